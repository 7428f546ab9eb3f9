/* A chat as the console holds it (its summary, transcript, replies on their way), the questions asked
 * of it everywhere (which list, whose, unread?), and the read marks kept across reloads. */

import { state } from "./state.js";

export function makeChat(summary) {
  return {
    id: summary.id,
    s: summary,
    events: null, // loaded transcript, or null
    lastSeq: 0, // last seq of the loaded transcript
    loading: false,
    buffered: [], // events that came while a history request was out, or ahead of a gap
    pending: [], // my replies not yet in the log: {id, text, at, acked, failed}
    uploads: [], // my files on their way: {id, name, fileId (once stored)}
    unread: 0,
    preview: null, // {from, name, text, at}
    pageUrl: null, // the latest visit event's url
    typing: null, // {name, until}
    typingTimer: 0,
    notice: null, // {text, kind}
    draft: "",
    flashUntil: 0,
    accepting: false,
    li: null,
    button: null,
    timeNode: null,
  };
}

export function updateSummary(chat, summary) {
  var before = chat.s;
  chat.s = summary;
  if (before.state !== summary.state || before.agent !== summary.agent) {
    chat.accepting = false;
    if (summary.state !== "queued") chat.flashUntil = 0;
  }
  return before;
}

/* A message left while nobody could answer (a chat of type offline_msg): read, answered by email. */
export function isMessage(chat) {
  return chat.s.type === "offline_msg";
}

/* Unread until an agent opens it: the server keeps that for every agent (`unread` in the summary);
   the local mark only bridges the moment until its `chat` frame comes back. */
export function messageUnread(chat) {
  return !state.readMarks[chat.id] && chat.s.unread !== false;
}

export function listOf(chat) {
  var me = state.me;
  if (isMessage(chat)) return "messages";
  if (chat.s.state === "queued") return "queue";
  if (chat.s.state === "active" && me && chat.s.agent === me.name) return "mine";
  return "others";
}

export function isMineActive(chat) {
  var me = state.me;
  return chat.s.state === "active" && me && chat.s.agent === me.name;
}

export function wantsTranscript(chat) {
  return chat.s.state === "queued" || isMineActive(chat) || isWatching(chat) || chat.id === state.selectedId;
}

/* Supervisors and operators see every chat, join one silently, take it over (widget_server/roles.py). */
export function supervises() {
  var me = state.me;
  return !!me && (me.role === "supervisor" || me.role === "operator");
}

/* Who follows the chat silently, from its loaded log: every `watch` event's user but the chat's agent
 * (who took it over is in it). Empty while the transcript is not loaded. */
export function watchers(chat) {
  var found = [];
  (chat.events || []).forEach(function (ev) {
    if (ev.kind === "watch" && ev.user && ev.user !== chat.s.agent && found.indexOf(ev.user) < 0) found.push(ev.user);
  });
  return found;
}

/* I joined this open chat silently: it is not mine, yet I follow it (its messages notify me). */
export function isWatching(chat) {
  var me = state.me;
  return !!me && chat.s.state !== "ended" && watchers(chat).indexOf(me.name) >= 0;
}

export function nickname(chat) {
  return (chat.s.visitor && chat.s.visitor.nickname) || "Visitor";
}

/* The agent's display name as the chat's `joined` event has it; the login name otherwise. */
export function agentName(chat) {
  var me = state.me;
  var login = chat.s.agent;
  if (!login) return "another agent";
  if (me && login === me.name) return me.displayName || login;
  if (chat.events) {
    for (var i = chat.events.length - 1; i >= 0; i--) {
      if (chat.events[i].kind === "joined" && chat.events[i].name) return chat.events[i].name;
    }
  }
  return login;
}

export function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function siteName(chat) {
  return state.sites[chat.s.site] || chat.s.site;
}

export function pageUrlOf(chat) {
  return chat.pageUrl || (chat.s.visitor && chat.s.visitor.page) || null;
}

export function isVisible() {
  return document.visibilityState === "visible" && document.hasFocus();
}

// --- read marks (kept across reloads, per agent) ---------------------------------------------------

function readKey() {
  return "widget_server.console.read." + (state.me ? state.me.name : "");
}

export function loadReadMarks() {
  try {
    state.readMarks = JSON.parse(window.localStorage.getItem(readKey()) || "{}") || {};
  } catch (e) {
    state.readMarks = {};
  }
}

export function saveReadMarks() {
  try {
    var kept = {};
    state.chats.forEach(function (chat, id) {
      if (state.readMarks[id]) kept[id] = state.readMarks[id];
    });
    state.readMarks = kept;
    window.localStorage.setItem(readKey(), JSON.stringify(kept));
  } catch (e) {
    /* storage unavailable: unread counts just start over on reload */
  }
}
