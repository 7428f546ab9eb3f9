/* What the agent does: open a chat, accept it, reply, send a file, retry or discard a reply, end the
 * chat, read it; each sends its frame (or upload) and updates what shows it. */

import { isMessage, isMineActive, isVisible, messageUnread, saveReadMarks } from "./chats.js";
import { FILE_URL, MAX_TEXT } from "./config.js";
import { updateTitle } from "./indicators.js";
import { renderLists, updateItem } from "./lists.js";
import { isNoteMode } from "./notes.js";
import { renderHeaderActions, renderNotice, renderPane } from "./pane.js";
import { loadHistory, randomId, requestId, sendSay } from "./requests.js";
import { state } from "./state.js";
import { removePendingDom, renderPending, scrollToBottom } from "./transcript.js";
import { stopTyping, stopTypingIn } from "./typing.js";
import { send } from "./wire.js";

export function select(id) {
  var ui = state.ui;
  if (id === state.selectedId) return;
  var previous = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (previous && ui.textarea) previous.draft = ui.textarea.value;
  stopTyping();
  state.selectedId = id;
  try {
    window.sessionStorage.setItem("widget_server.console.selected", id || "");
  } catch (e) {
    /* ignore */
  }
  var chat = id ? state.chats.get(id) : null;
  if (chat && !chat.events) loadHistory(chat);
  renderPane();
  renderLists();
  if (chat && isMessage(chat)) markMessageRead(chat); // opened: read
  if (chat && isVisible()) markRead(chat);
}

export function accept(chat) {
  if (!state.socketOpen || chat.s.state !== "queued" || chat.accepting) return;
  chat.accepting = true;
  chat.notice = null;
  send({ type: "accept", chat: chat.id, id: requestId(chat.id, "accept") });
  renderNotice();
  renderHeaderActions();
}

/* A supervisor follows a colleague's chat without the visitor knowing (answered `watching`, and the
 * chat's `watch` event shows it to every console); notes are what they write there. */
export function joinSilently(chat) {
  if (!state.socketOpen || chat.s.state !== "active") return;
  send({ type: "join", chat: chat.id, id: requestId(chat.id, "join") });
}

/* A supervisor makes a colleague's chat theirs: a transfer to themselves (answered `transferred`). */
export function takeOver(chat) {
  if (!state.socketOpen || chat.s.state !== "active") return;
  send({ type: "take_over", chat: chat.id, id: requestId(chat.id, "take_over") });
}

export function endChat(chat) {
  if (!state.socketOpen) return;
  send({ type: "end", chat: chat.id, id: requestId(chat.id, "end") });
  stopTypingIn(chat.id);
}

export function sendReply() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  var note = isNoteMode(chat); // an internal note, in any chat (notes.js)
  if (!chat || !(note || isMineActive(chat)) || !ui.textarea) return;
  var text = ui.textarea.value;
  if (!text.trim()) return;
  if (text.length > MAX_TEXT) {
    var what = note ? "A note" : "A reply";
    setNotice(chat, what + " may be at most " + MAX_TEXT + " characters (this one has " + text.length + ").", "error");
    return;
  }
  var pending = { id: randomId(), text: text, at: Date.now(), acked: false, failed: false, note: note };
  chat.pending.push(pending);
  ui.textarea.value = "";
  chat.draft = "";
  if (!note) stopTyping();
  sendSay(chat, pending);
  renderPending(chat);
  scrollToBottom(true);
  ui.textarea.focus();
}

/* Upload one file to a chat of mine; it shows as "Uploading…" until its `attachment` event arrives (before
 * or after the answer). A refusal (type, size, count, an ended chat) is the server's sentence in the notice.
 * Files go up over HTTP (POST /agent/attachments/CHAT, with the session's CSRF token from the page's
 * <meta name="csrf-token">, widget_server/web/attachments.py) and come back, like everything else, as
 * `attachment` events whose file URL is a same-origin download. */
export function sendFile(chat, file) {
  if (!isMineActive(chat) || !window.fetch) return;
  var upload = { id: randomId(), name: file.name, fileId: null };
  chat.uploads.push(upload);
  renderPending(chat);
  if (chat.id === state.selectedId) scrollToBottom(true);
  var form = new FormData();
  form.append("file", file);
  form.append("id", upload.id); // the same request again stores the file once
  var csrf = document.querySelector('meta[name="csrf-token"]');
  window
    .fetch(FILE_URL + encodeURIComponent(chat.id), {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "" },
    })
    .then(function (response) {
      return response.json().then(
        function (body) { return { ok: response.ok, body: body || {} }; },
        function () { return { ok: false, body: {} }; }
      );
    })
    .catch(function () {
      return { ok: false, body: {} };
    })
    .then(function (result) {
      if (result.ok && result.body.id) {
        upload.fileId = result.body.id;
        var here = (chat.events || []).some(function (ev) {
          return ev.kind === "attachment" && ev.file && ev.file.id === upload.fileId;
        });
        if (here) dropUpload(chat, upload); // its event came first
        return;
      }
      dropUpload(chat, upload);
      setNotice(chat, result.body.message || "The file could not be sent. Please try again.", "error");
    });
}

export function dropUpload(chat, upload) {
  chat.uploads = chat.uploads.filter(function (u) { return u !== upload; });
  removePendingDom(upload.id);
}

export function retry(chat, clientId) {
  chat.pending.forEach(function (p) {
    if (p.id === clientId) sendSay(chat, p);
  });
  renderPending(chat);
}

export function discard(chat, clientId) {
  chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
  removePendingDom(clientId);
}

export function setNotice(chat, text, kind) {
  chat.notice = { text: text, kind: kind || "error" };
  if (chat.id === state.selectedId) renderNotice();
}

export function markRead(chat) {
  if (!chat.events) return;
  tellSeen(chat);
  if ((state.readMarks[chat.id] || 0) < chat.lastSeq || chat.unread) {
    state.readMarks[chat.id] = chat.lastSeq;
    chat.unread = 0;
    saveReadMarks();
    updateItem(chat);
    updateTitle();
  }
}

/* The visitor's last message on screen, told to the server once: the visitor's widget shows "Seen". */
function tellSeen(chat) {
  var seen = 0;
  chat.events.forEach(function (ev) {
    if ((ev.kind === "message" || ev.kind === "attachment") && ev.from === "visitor") seen = ev.seq;
  });
  if (seen <= (chat.seenSent || 0)) return;
  chat.seenSent = seen;
  send({ type: "read", chat: chat.id, seq: seen, id: "seen-" + chat.id });
}

function markMessageRead(chat) {
  if (!messageUnread(chat)) return;
  state.readMarks[chat.id] = Math.max(1, chat.s.lastSeq || 0);
  saveReadMarks();
  send({ type: "read", chat: chat.id, id: "read-" + chat.id });
  updateItem(chat);
  updateTitle();
}
