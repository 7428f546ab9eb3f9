/*
 * widget_server chat widget, part three: a verified visitor's earlier chats, on any device. widget.js loads
 * it into its shadow root (with the page's nonce, if any) only when the host page identified the visitor
 * (WidgetServer("identify", ...), signed by the site's backend: docs/embedding.md) and the server listed
 * at least one chat of theirs (`earlier`, docs/protocol.md), so that the script every visitor downloads
 * stays small.
 *
 * Above the form or the conversation: a collapsed "Earlier conversations  3"; opened, one line a chat (its
 * day and its first message), each opening to its messages, read only, asked for once with `transcript`.
 * What the server sent is text: it reaches the DOM as text nodes (richText builds its own), never as HTML.
 *
 * From widget.js it takes one property of the host element, `widgetServerEarlier`:
 *   q, on()    the `earlier` and `transcript` frames, queued; on() (set here) is called after each push
 *   at         the element the list goes before (the widget's main view)
 *   cur()      the chat open in the widget, left out of the list
 *   ask(chat)  send `transcript` for one chat; false while there is no connection
 *   t(id), en, h, style, bubble, richText
 *              as in widget.js: the visitor's language (this part's English is EN below, added to `en`;
 *              the locale files have these ids too) and how it draws messages
 */
(() => {
  "use strict";

  const host = document.querySelector("widget-server-chat");
  const api = host && host.widgetServerEarlier;
  const shadow = host && host.shadowRoot;
  if (!api || !shadow || !api.style || api.on) return; // loaded twice, or by an older widget.js

  // The English of this part's strings, as JSON (widget_server/widget_strings.py reads it too).
  const EN = {
"earlier": "Earlier conversations"
  };
  Object.assign(api.en, EN);
  const { t, h } = api;

  const CSS_TEXT = `
.earlier{flex:none;max-height:45%;overflow-y:auto;overscroll-behavior:contain;border-bottom:1px solid var(--line);background:var(--bg);font-size:13.5px}
.earlier summary{display:flex;gap:8px;list-style:none;align-items:baseline;padding:9px 14px;cursor:pointer}
.earlier>summary{font-weight:600}
.earlier .n{padding:0 7px;border-radius:99px;background:var(--bg2);color:var(--muted);font-size:12px}
.earlier ul{list-style:none;margin:0;padding:0}
.earlier li{border-top:1px solid var(--line)}
.earlier li summary{color:var(--muted)}
.earlier .first{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:var(--text)}
.elog{display:flex;flex-direction:column;padding:0 14px 12px}
.earlier summary::-webkit-details-marker{display:none}
.earlier summary::after{content:"";flex:none;align-self:center;width:6px;height:6px;margin-inline-start:auto;border:solid var(--muted);border-width:0 1.5px 1.5px 0;transform:rotate(45deg)}
.earlier [open]>summary::after,.earlier[open]>summary::after{transform:rotate(225deg)}
`;
  api.style(CSS_TEXT);

  const title = h("span");
  const count = h("span", { class: "n" });
  const list = h("ul");
  const box = h("details", { class: "earlier", hidden: true }, h("summary", null, title, count), list);
  const logs = new Map(); // chat id -> its transcript's element, while listed
  let drawn = null; // the chats listed, as their ids

  function draw(chats) {
    const open = api.cur();
    const shown = chats.filter((c) => c && typeof c.chat === "string" && c.chat !== open);
    title.textContent = t("earlier");
    // The list again after a reconnect: a transcript being read stays open unless the list changed.
    const ids = shown.map((c) => c.chat).join();
    if (ids === drawn) return;
    drawn = ids;
    logs.clear();
    count.textContent = shown.length;
    list.replaceChildren(...shown.map(item));
    box.hidden = !shown.length;
    if (!box.isConnected) api.at.before(box);
  }

  function item(c) {
    const lang = (shadow.querySelector(".root") || {}).lang || undefined;
    const day = new Date(c.createdAt);
    const when = isNaN(day) ? "" : day.toLocaleDateString(lang, { dateStyle: "medium" });
    const log = h("div", { class: "elog" });
    logs.set(c.chat, log);
    const chat = h(
      "details",
      // Asked for once it is opened, not before: most lists are glanced at, not read.
      { ontoggle: () => chat.open && !chat.asked && (chat.asked = !!api.ask(c.chat)) },
      h("summary", null, h("time", { datetime: isNaN(day) ? "" : day.toISOString() }, when), h("span", { class: "first" }, String(c.first || ""))),
      log
    );
    return h("li", null, chat);
  }

  /** A `transcript`: its messages as the widget draws them (other events are for the live chat). */
  function fill(f) {
    const log = logs.get(f.chat);
    if (!log) return;
    const lines = (Array.isArray(f.events) ? f.events : []).map((e) => {
      if (e.kind === "attachment") return api.bubble(e.from === "visitor", e.name, String((e.file || {}).name || ""), e.at);
      if (e.kind !== "message") return null;
      if (e.from === "system") return h("p", { class: "sys" }, String(e.text || ""));
      return api.bubble(e.from === "visitor", e.name, api.richText(String(e.text || "")), e.at);
    });
    log.replaceChildren(...lines.filter((line) => line));
  }

  api.on = () => {
    for (const f of api.q.splice(0)) f.type === "earlier" ? draw(Array.isArray(f.chats) ? f.chats : []) : fill(f);
  };
  api.on();
})();
