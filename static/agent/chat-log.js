/* The rule that keeps transcripts exact. For every chat whose transcript is loaded we keep the last seq
 * we have; an event with seq == last+1 is appended, seq <= last is a repeat and ignored, anything further
 * ahead means we missed something and we ask for `history {chat, after: last}`. */

import { dropUpload, markRead } from "./actions.js";
import { isVisible } from "./chats.js";
import { loadHistory } from "./requests.js";
import { state } from "./state.js";
import { parseTime } from "./time.js";
import { removePendingDom, renderEvent } from "./transcript.js";
import { clearVisitorTyping } from "./typing.js";
import { renderDetails } from "./visitor-details.js";

/* A live event. */
export function applyEvent(chat, ev) {
  if (typeof ev.seq !== "number") return;
  if (chat.s.lastSeq === undefined || ev.seq > chat.s.lastSeq) chat.s.lastSeq = ev.seq;
  if (chat.loading) {
    // The history answer may have been read before this event was stored: keep it for then.
    chat.buffered.push(ev);
    if (!chat.events) notePreview(chat, ev);
    return;
  }
  if (!chat.events) {
    notePreview(chat, ev); // not loaded: the list still shows what happened
    return;
  }
  if (ev.seq <= chat.lastSeq) return;
  if (ev.seq !== chat.lastSeq + 1) {
    chat.buffered.push(ev);
    loadHistory(chat);
    return;
  }
  appendEvent(chat, ev);
}

/* A history answer's events and those held back meanwhile, in order; true if a gap remains (ask again). */
export function appendHistory(chat, events) {
  events = events.concat(chat.buffered);
  chat.buffered = [];
  events.sort(function (a, b) { return a.seq - b.seq; });
  var gap = false;
  events.forEach(function (ev) {
    if (typeof ev.seq !== "number" || ev.seq <= chat.lastSeq) return;
    if (ev.seq !== chat.lastSeq + 1) {
      gap = true;
      chat.buffered.push(ev);
      return;
    }
    appendEvent(chat, ev);
  });
  return gap;
}

function appendEvent(chat, ev) {
  chat.events.push(ev);
  chat.lastSeq = ev.seq;
  notePreview(chat, ev);
  if (ev.kind === "visit" && ev.url) {
    chat.pageUrl = ev.url;
    if (chat.id === state.selectedId) renderDetails();
  }
  var mineNow = false;
  if (ev.kind === "attachment" && ev.file) {
    chat.uploads.slice().forEach(function (upload) {
      if (upload.fileId !== ev.file.id) return;
      dropUpload(chat, upload);
      mineNow = true;
    });
  }
  if (ev.kind === "message" || ev.kind === "attachment") {
    if (ev.from === "visitor") {
      if (chat.typing) clearVisitorTyping(chat);
      var visible = chat.id === state.selectedId && isVisible();
      if (ev.seq > (state.readMarks[chat.id] || 0) && !visible) chat.unread += 1;
    }
    if (ev.from === "agent" && typeof ev.id === "string" && ev.id.slice(0, 6) === "agent:") {
      var clientId = ev.id.slice(6);
      var before = chat.pending.length;
      chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
      if (chat.pending.length !== before) {
        mineNow = true;
        removePendingDom(clientId);
      }
    }
  }
  if (ev.kind === "note" && typeof ev.id === "string") {
    // My note, stored: it replaces its pending line (its ack may come first, through another process).
    var notes = chat.pending.length;
    chat.pending = chat.pending.filter(function (p) { return !(p.note && p.id === ev.id); });
    if (chat.pending.length !== notes) {
      mineNow = true;
      removePendingDom(ev.id);
    }
  }
  if (chat.id === state.selectedId) {
    renderEvent(chat, ev, mineNow);
    if (isVisible()) markRead(chat);
  }
}

/* What the chat's list item shows of it, loaded or not. */
function notePreview(chat, ev) {
  if (ev.kind === "message" && typeof ev.text === "string") {
    chat.preview = { from: ev.from, name: ev.name, text: ev.text, at: parseTime(ev.at) };
  } else if (ev.kind === "attachment" && ev.file) {
    chat.preview = { from: ev.from, name: ev.name, text: "File: " + String(ev.file.name || ""), at: parseTime(ev.at) };
  }
}
