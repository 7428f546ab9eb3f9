/* The open chat's transcript: its lines (messages, files, joins, state changes, visits, the rating),
 * my replies and files still on their way, the visitor's typing line, and staying pinned to the newest. */

import { FILE_URL, THUMBNAIL_TYPES } from "./config.js";
import { el, externalLink, icon, safeUrl, visuallyHidden } from "./dom.js";
import { formatted } from "./format.js";
import { handlers } from "./handlers.js";
import { noteLine } from "./notes.js";
import { state } from "./state.js";
import { dayLabel, parseTime, timeEl } from "./time.js";

export function atBottom() {
  var s = state.ui.scroller;
  return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 48;
}

export function scrollToBottom(force) {
  var ui = state.ui;
  if (!ui.scroller) return;
  if (force || atBottom()) {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
    ui.stuck = true;
  }
  if (ui.jump) ui.jump.hidden = true;
}

export function renderTranscript() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.transcript) return;
  ui.group = null;
  ui.day = null;
  ui.previousKind = null;
  ui.transcript.replaceChildren();
  if (!chat.events) {
    ui.transcript.append(el("li", { class: "sys loading", text: "Loading the conversation…" }));
    ui.transcript.setAttribute("aria-busy", "true");
    return;
  }
  ui.transcript.removeAttribute("aria-busy");
  // Built off-screen and announced as one change, not one per line.
  ui.transcript.setAttribute("aria-live", "off");
  chat.events.forEach(function (ev) {
    var node = eventNode(ev);
    if (node) ui.transcript.append(node);
  });
  if (!chat.events.length) ui.transcript.append(el("li", { class: "sys placeholder", text: "No messages yet." }));
  renderPending(chat);
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  ui.transcript.setAttribute("aria-live", "polite");
}

export function renderEvent(chat, ev, mine) {
  var ui = state.ui;
  if (!ui.transcript) return;
  var loading = ui.transcript.querySelector(".loading");
  if (loading) return; // the whole transcript renders when history arrives
  var empty = ui.transcript.querySelector(".sys.placeholder");
  if (empty) empty.remove();
  var stick = ui.stuck || atBottom();
  var node = eventNode(ev);
  if (!node) return;
  var firstPending = ui.transcript.querySelector(".pending-item");
  ui.transcript.insertBefore(node, firstPending);
  if (stick || mine) scrollToBottom(true);
  else if (ui.jump) ui.jump.hidden = false;
}

/* A transcript read elsewhere (an earlier chat, read only, earlier-chats.js): its lines into `list`. */
export function renderEventsInto(list, events) {
  var context = {}; // its own day and name-line grouping, apart from the open chat's
  list.replaceChildren();
  events.forEach(function (ev) {
    var node = eventNode(ev, context);
    if (node) list.append(node);
  });
  if (!list.childNodes.length) list.append(el("li", { class: "sys placeholder", text: "No messages." }));
}

/* One transcript line. Consecutive messages from the same person within a few minutes share one
 * name line, like a conversation reads; every message keeps its own time. `context` keeps that grouping
 * (the open chat's: state.ui). */
function eventNode(ev, context) {
  var ui = context || state.ui;
  var at = parseTime(ev.at);
  var fragment = document.createDocumentFragment();
  var day = new Date(at).toDateString();
  if (ui.day !== day) {
    fragment.append(el("li", { class: "day" }, el("span", { text: dayLabel(at) }))); // a list item (a role would leave the list)
    ui.day = day;
    ui.group = null;
  }
  var node = null;
  if (ev.kind === "message" || ev.kind === "attachment") {
    var from = ev.from === "agent" ? "agent" : ev.from === "system" ? "system" : "visitor";
    if (from === "system") {
      node = systemLine(ev.text || "", at);
      ui.group = null;
    } else {
      var key = from + "\u0000" + (ev.name || "");
      var continued = ui.group && ui.group.key === key && at - ui.group.at < 5 * 60000;
      ui.group = { key: key, at: at };
      node = messageNode(from, ev.name, ev.kind === "attachment" ? fileContent(ev.file) : ev.text || "", at, continued);
    }
  } else if (ev.kind === "joined") {
    node = systemLine((ev.name || "An agent") + " joined the chat", at);
    ui.group = null;
  } else if (ev.kind === "left") {
    node = systemLine((ev.name || "The agent") + " left the chat", at);
    ui.group = null;
  } else if (ev.kind === "state" && ev.state === "active" && ui.previousKind === "joined") {
    node = null; // "X joined the chat" already says it
  } else if (ev.kind === "state") {
    var text = ev.state === "queued"
      ? "Waiting for an agent" + (typeof ev.position === "number" ? " · position " + ev.position + " in the queue" : "")
      : ev.state === "active"
        ? "Chat is active"
        : ev.state === "ended"
          ? "Chat ended"
          : "State: " + String(ev.state);
    node = systemLine(text, at, ev.state === "ended" ? "ended" : null);
    ui.group = null;
  } else if (ev.kind === "rating") {
    node = systemLine(rating(ev.rating, ev.comment), at, "rated");
    ui.group = null;
  } else if (ev.kind === "greeting") {
    // The proactive greeting the visitor answered: the site's words, or the host page's own (not the
    // site's settings: anyone could have written it), said as such. Not a reply of anyone in the team.
    var said = (ev.page ? "Greeting shown by the page" : "Greeting") + (ev.name ? " · " + ev.name : "");
    node = messageNode("agent", said, ev.text || "", at, false);
    node.classList.add("greeting");
    ui.group = null;
  } else if (ev.kind === "note") {
    node = noteLine(ev.name, ev.text, at); // for agents only: a card of its own, not a message
    ui.group = null;
  } else if (ev.kind === "watch") {
    // A supervisor joined silently: agents see it, the visitor never does (widget_server/roles.py).
    var me = state.me;
    var who = me && ev.user === me.name ? "You" : ev.name || "A supervisor";
    var line = document.createDocumentFragment();
    line.append(icon("lock", 12), " " + who + " joined silently · the visitor does not see this");
    node = systemLine(line, at, "watch");
    ui.group = null;
  } else if (ev.kind === "visit") {
    var href = safeUrl(ev.url);
    var content = document.createDocumentFragment();
    content.append("Now on ");
    content.append(href ? externalLink(href, ev.url) : String(ev.url || ""));
    node = systemLine(content, at, "visit");
  }
  ui.previousKind = ev.kind;
  if (!node) return fragment.childNodes.length ? fragment : null;
  node.setAttribute("data-seq", String(ev.seq));
  fragment.append(node);
  return fragment;
}

function systemLine(content, at, extra) {
  return el(
    "li",
    { class: "sys" + (extra ? " " + extra : "") },
    el("span", { class: "sys-text" }, content),
    " ",
    timeEl(at)
  );
}

/* `content`: a message's text, or the node of a file (fileContent). */
function messageNode(from, name, content, at, continued) {
  var me = state.me;
  var displayName = from === "agent" && me && name === me.displayName ? "You" : name || (from === "agent" ? "Agent" : "Visitor");
  var meta = el("div", { class: "msg-meta" });
  if (!continued) meta.append(el("span", { class: "msg-name", text: displayName }));
  meta.append(timeEl(at));
  var isText = typeof content === "string";
  var bubble = el("div", { class: isText ? "bubble" : "bubble file-bubble" }, isText ? formatted(content) : content);
  // A continued message shows no name, but a screen reader still says who wrote it.
  return el(
    "li",
    { class: "msg " + from + (continued ? " continued" : "") },
    continued ? visuallyHidden(displayName + ": ") : null,
    meta,
    bubble
  );
}

/* The visitor's rating: a thumb and "Rated good" / "Rated bad", and their comment. */
export function rating(value, comment) {
  var good = value === "good";
  var thumb = icon("thumb", 14);
  if (!good) thumb.classList.add("down");
  return el(
    "span",
    { class: "rating " + (good ? "good" : "bad") },
    el("span", { class: "rating-badge" }, thumb, good ? "Rated good" : "Rated bad"),
    comment ? el("q", { class: "rating-comment", text: comment }) : null
  );
}

/* A file in the transcript: a download link with its name (text), type and size; images as a thumbnail
 * (same origin, so the page's `img-src 'self'` allows it; the download is always an attachment). */
function fileContent(file) {
  file = file || {};
  var name = String(file.name || "file");
  var type = String(file.type || "");
  var url = typeof file.url === "string" && file.url.indexOf(FILE_URL) === 0 ? file.url : null;
  var label = el(
    "span",
    { class: "file-label" },
    icon("file", 20),
    el("span", { class: "file-text" }, el("span", { class: "file-name", text: name }), el("span", { class: "file-size", text: " " + fileDetails(type, file.size) }))
  );
  if (!url) return el("span", { class: "file" }, label);
  var thumbnail = THUMBNAIL_TYPES.indexOf(type) >= 0 ? el("img", { class: "file-thumb", src: url, alt: "", loading: "lazy" }) : null;
  return el("a", { class: "file", href: url, download: name, target: "_blank", rel: "noopener noreferrer" }, thumbnail, label);
}

function fileDetails(type, size) {
  var kind = { "application/pdf": "PDF", "text/plain": "Text" }[type] || (type.indexOf("image/") === 0 ? type.slice(6).toUpperCase() + " image" : "File");
  if (typeof size !== "number") return kind;
  var amount = size < 1024 ? size + " B" : size < 1048576 ? Math.ceil(size / 1024) + " KB" : (size / 1048576).toFixed(1) + " MB";
  return kind + " · " + amount;
}

export function removePendingDom(clientId) {
  var ui = state.ui;
  if (!ui.transcript) return;
  var nodes = ui.transcript.querySelectorAll(".pending-item");
  for (var i = 0; i < nodes.length; i++) {
    if (nodes[i].getAttribute("data-client") === clientId) nodes[i].remove();
  }
}

export function renderPending(chat) {
  var ui = state.ui;
  if (chat.id !== state.selectedId || !ui.transcript || !chat.events) return;
  var existing = ui.transcript.querySelectorAll(".pending-item");
  for (var i = 0; i < existing.length; i++) existing[i].remove();
  chat.pending.forEach(function (p) {
    var status;
    if (p.failed) {
      status = el(
        "span",
        { class: "msg-status failed" },
        "Not sent · ",
        el("button", { type: "button", class: "link", onclick: function () { handlers.retry(chat, p.id); } }, "Retry"),
        " · ",
        el("button", { type: "button", class: "link", onclick: function () { handlers.discard(chat, p.id); } }, "Discard")
      );
    } else {
      status = el("span", { class: "msg-status", text: p.acked ? "Sent" : state.socketOpen ? "Sending…" : "Waiting for connection…" });
    }
    var line = p.note
      ? noteLine(null, p.text, p.at, status)
      : el(
          "li",
          { class: "msg agent" },
          el("div", { class: "msg-meta" }, el("span", { class: "msg-name", text: "You" }), status),
          el("div", { class: "bubble" }, formatted(p.text))
        );
    line.classList.add("pending-item");
    if (!p.acked) line.classList.add("pending");
    if (p.failed) line.classList.add("failed");
    line.setAttribute("data-client", p.id);
    ui.transcript.append(line);
  });
  chat.uploads.forEach(function (upload) {
    ui.transcript.append(
      el(
        "li",
        { class: "msg agent pending-item pending", "data-client": upload.id },
        el("div", { class: "msg-meta" }, el("span", { class: "msg-name", text: "You" }), el("span", { class: "msg-status", text: "Uploading…" })),
        el("div", { class: "bubble file-bubble" }, el("span", { class: "file" }, el("span", { class: "file-label" }, icon("file", 20), el("span", { class: "file-name", text: upload.name }))))
      )
    );
  });
}

export function renderTyping() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.typing) return;
  if (chat.typing && chat.s.state !== "ended") {
    var stick = atBottom();
    ui.typing.replaceChildren(
      el("span", { class: "typing-dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
      chat.typing.name + " is typing…"
    );
    ui.typing.classList.add("on");
    if (stick) scrollToBottom(true);
  } else {
    ui.typing.replaceChildren();
    ui.typing.classList.remove("on");
  }
}
