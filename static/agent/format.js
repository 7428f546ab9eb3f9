/* A message's text with a little markdown, the same subset as the widget's (static/widget.js, richText;
 * docs/console.md, "Formatting"): **bold**, _italics_, lines starting "- ", "* " or "1. " as bulleted or
 * numbered lists, and http(s) URLs as links (dom.js linkify: nothing else becomes a link).
 *
 * Built of elements and text nodes only: a message never becomes HTML, so <b>, <script> or an
 * onerror attribute in it stay the letters they are. Hand-written, as the widget's: the rules are a
 * dozen lines, and a markdown library would bring HTML, images and links of any scheme, which we refuse. */

import { el, linkify } from "./dom.js";

var ITEM = /^\s*(?:[-*\u2022]|(\d{1,9})[.)])\s+(.*)/;
// A URL first (its _ and * are letters), then **bold**, then _italics_ not inside a word.
var INLINE = /\bhttps?:\/\/[^\s<>"'`]+|\*\*(?=\S)(.*?\S)\*\*|(^|\W)_(?=\S)([^_]*?\S)_(?!\w)/gi;

export function formatted(text) {
  var fragment = document.createDocumentFragment();
  var list = null;
  String(text).split("\n").forEach(function (line, index) {
    var item = ITEM.exec(line);
    var tag = item ? (item[1] ? "ol" : "ul") : "";
    if (tag) {
      var li = el("li", null, inline(item[2]));
      if (!list || list.localName !== tag) {
        list = el(tag, item[1] ? { start: item[1] } : null);
        fragment.append(list);
      }
      list.append(li);
      return;
    }
    if (index && !list) fragment.append("\n");
    fragment.append(inline(line));
    list = null;
  });
  return fragment;
}

function inline(text) {
  var fragment = document.createDocumentFragment();
  var last = 0;
  var pattern = new RegExp(INLINE.source, "gi");
  var match;
  while ((match = pattern.exec(text)) !== null) {
    var at = match.index + (match[2] || "").length; // after the character before an _
    var node;
    if (match[1]) node = el("strong", null, inline(match[1]));
    else if (match[3]) node = el("em", null, inline(match[3]));
    else node = linkify(match[0]); // the sentence's punctuation after the URL stays text
    fragment.append(text.slice(last, at), node);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}
