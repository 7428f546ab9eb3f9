/* An offline message (a chat of type offline_msg) opened in the pane: no conversation, just the text,
 * who left it and where, and a button to answer by email. */

import { nickname, siteName } from "./chats.js";
import { el, externalLink, safeMail, safeUrl } from "./dom.js";
import { formatted } from "./format.js";
import { state } from "./state.js";
import { fullDate, parseTime, shortDateTime, timeEl } from "./time.js";

export function renderMessagePane(pane, chat) {
  var ui = state.ui;
  var mail = safeMail(chat.s.visitor && chat.s.visitor.email);
  var created = parseTime(chat.s.createdAt);
  ui.message = el("div", { class: "message-card" });
  var head = el(
    "header",
    { class: "chat-head message-head" },
    el(
      "div",
      { class: "chat-who" },
      el(
        "h2",
        { id: "chat-title", class: "chat-title" },
        el("span", { class: "chat-name", text: nickname(chat) }),
        el("span", { class: "pill message", text: "Offline message" })
      ),
      el("p", { class: "chat-meta" }, "Left ", timeEl(created, shortDateTime(created)), " on " + siteName(chat))
    ),
    mail
      ? el(
          "div",
          { class: "chat-tools" },
          el("a", { class: "btn primary", href: mail + "?subject=" + encodeURIComponent("Re: your message to " + siteName(chat)) }, "Reply by email")
        )
      : null
  );
  pane.replaceChildren(head, el("section", { class: "message-view", "aria-labelledby": "chat-title" }, ui.message));
  renderMessage();
}

export function renderMessage() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.message) return;
  var v = chat.s.visitor || {};
  var text = null;
  var page = v.page;
  (chat.events || []).forEach(function (ev) {
    if (ev.kind === "message" && ev.from === "visitor") text = ev.text || "";
    if (ev.kind === "visit" && !page) page = ev.url;
  });
  if (text === null) text = (chat.s.lastMessage && chat.s.lastMessage.text) || ""; // the start, until loaded
  var rows = el("dl", { class: "kv message-kv" });
  function row(label, value) {
    rows.append(el("div", { class: "kv-row" }, el("dt", { text: label }), el("dd", null, value)));
  }
  row("Name", v.nickname || "—");
  var mail = safeMail(v.email);
  row("Email", mail ? el("a", { href: mail, text: v.email }) : v.email || el("span", { class: "none", text: "Not given" }));
  var href = safeUrl(page);
  row("Page", href ? externalLink(href, page) : page || el("span", { class: "none", text: "Unknown" }));
  var created = parseTime(chat.s.createdAt);
  row("Received", timeEl(created, fullDate(created)));
  row("Site", siteName(chat));
  ui.message.replaceChildren(
    el("div", { class: "message-text", "aria-busy": chat.events ? null : "true" }, formatted(text)),
    rows
  );
}
