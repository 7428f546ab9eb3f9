/* Building the DOM from what visitors and agents wrote, safely: text reaches the page through
 * textContent, createTextNode or Node.append(string), never innerHTML; links are built with
 * createElement, and only for http(s) URLs. */

export function $(id) {
  return document.getElementById(id);
}

/* el("p", {class: "x", text: "..."}, child, "text child", ...). Attribute names are always
 * constants of the console's code; values from visitors only ever go through `text` or text children. */
export function el(tag, attrs) {
  var node = document.createElement(tag);
  if (attrs) {
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
  }
  for (var i = 2; i < arguments.length; i++) {
    var child = arguments[i];
    if (child === null || child === undefined || child === false) continue;
    node.append(child); // strings become text nodes
  }
  return node;
}

function svg(name, paths, size) {
  var node = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  node.setAttribute("viewBox", "0 0 24 24");
  node.setAttribute("width", String(size || 16));
  node.setAttribute("height", String(size || 16));
  node.setAttribute("aria-hidden", "true");
  node.setAttribute("focusable", "false");
  node.setAttribute("class", "icon icon-" + name);
  paths.forEach(function (d) {
    var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    node.appendChild(path);
  });
  return node;
}

var ICONS = {
  chat: ["M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 4v-4h0A2.5 2.5 0 0 1 4 13.5z"],
  send: ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"],
  close: ["M6 6l12 12M18 6L6 18"],
  info: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M12 11v6M12 7.5v.5"],
  down: ["M12 5v14M6 13l6 6 6-6"],
  inbox: ["M4 13l2.5-7.5h11L20 13v5.5H4z", "M4 13h5l1 2h4l1-2h5"],
  clip: ["m21.4 11-9.2 9.3a6 6 0 0 1-8.5-8.5l8.6-8.6A4 4 0 1 1 18 8.8l-8.6 8.6a2 2 0 0 1-2.8-2.8l8.5-8.5"],
  file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5"],
  lock: ["M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1z", "M8 11V7a4 4 0 0 1 8 0v4"],
  bolt: ["M13 2 4 14h8l-1 8 9-12h-8z"],
  verified: ["M12 2.5 4.5 5.5v6c0 4.6 3.2 8.4 7.5 10 4.3-1.6 7.5-5.4 7.5-10v-6z", "m8.5 12 2.5 2.5 4.5-5"],
  eye: ["M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z", "M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z"],
  keyboard: ["M3 6h18a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1z", "M6 10h.01M10 10h.01M14 10h.01M18 10h.01M7 14h10"],
  history: ["M3 12a9 9 0 1 0 2.6-6.4L3 8", "M3 3v5h5", "M12 7v5l3 2"],
  thumb: [
    "M7 10v12",
    "M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 8a2 2 0 0 1-1.9 1.4H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h2.8a2 2 0 0 0 1.8-1.1L12 2a3.1 3.1 0 0 1 3 3.9z",
  ],
};

export function icon(name, size) {
  return svg(name, ICONS[name], size);
}

export function visuallyHidden(text) {
  return el("span", { class: "vh", text: text });
}

/* Only http and https become links; anything else (javascript:, data:, relative) stays text. */
export function safeUrl(raw) {
  if (typeof raw !== "string" || !raw) return null;
  try {
    var url = new URL(raw);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch (e) {
    /* not a URL */
  }
  return null;
}

export function safeMail(email) {
  if (typeof email !== "string" || /[\s<>"]/.test(email) || email.indexOf("@") < 1) return null;
  return "mailto:" + encodeURIComponent(email).replace(/%40/g, "@");
}

export function externalLink(href, text) {
  return el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: text });
}

/* A message's text with its http(s) URLs as links; everything else text nodes. */
export function linkify(text) {
  var fragment = document.createDocumentFragment();
  var pattern = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  var last = 0;
  var match;
  while ((match = pattern.exec(text)) !== null) {
    var candidate = match[0];
    // Trailing punctuation belongs to the sentence, not the URL; a closing bracket only if unopened.
    var trimmed = candidate.replace(/[.,;:!?'"]+$/, "");
    while (/[)\]}]$/.test(trimmed)) {
      var close = trimmed.slice(-1);
      var open = close === ")" ? "(" : close === "]" ? "[" : "{";
      if (trimmed.split(open).length >= trimmed.split(close).length) break;
      trimmed = trimmed.slice(0, -1).replace(/[.,;:!?'"]+$/, "");
    }
    var href = safeUrl(trimmed);
    if (!href) continue;
    if (match.index > last) fragment.append(text.slice(last, match.index));
    fragment.append(externalLink(href, trimmed));
    last = match.index + trimmed.length;
    pattern.lastIndex = last;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}
