/* What each frame from /agent/ws does to the chats and the page (the protocol is described in
 * widget_server/web/agent.py), and what a lost connection does. */

import { markRead, setNotice } from "./actions.js";
import { loadCanned } from "./canned.js";
import { applyEvent, appendHistory } from "./chat-log.js";
import {
  agentName,
  capitalise,
  isMessage,
  isMineActive,
  isVisible,
  loadReadMarks,
  makeChat,
  updateSummary,
  wantsTranscript,
} from "./chats.js";
import { FLASH_FOR, MAX_ENDED_SHOWN, MAX_MESSAGES_SHOWN, PRELOAD_QUEUE } from "./config.js";
import { earlierFailed, onEarlier, takeEarlierHistory } from "./earlier-chats.js";
import { setConnection, setConnectionDetail, updateTitle } from "./indicators.js";
import { renderLists, sortedChats, updateItem } from "./lists.js";
import { noticeChat, noticeEvents, noticeHello } from "./notify.js";
import { renderMessage } from "./offline-message.js";
import { renderComposerState, renderHeaderActions, renderPane, renderPaneHeader } from "./pane.js";
import { loadHistory, sendSay } from "./requests.js";
import { state } from "./state.js";
import { onAgent, teamFromHello } from "./status.js";
import { parseTime } from "./time.js";
import { onTransferred, transferFailed } from "./transfer.js";
import { removePendingDom, renderPending, renderTranscript, renderTyping } from "./transcript.js";
import { forgetTyping, onTyping, stopTypingIn } from "./typing.js";
import { renderDetails } from "./visitor-details.js";
import { resetBackoff } from "./wire.js";

var ERROR_TEXT = {
  taken: "Another agent has already accepted this chat.",
  chat_ended: "This chat has ended.",
  not_yours: null, // the server's sentence says it best
  rate_limited: "Slow down a little: too many actions at once.",
  not_found: "This chat no longer exists.",
  internal_error: "Something went wrong on the server; please try again.",
};

export function receive(frame) {
  switch (frame.type) {
    case "hello":
      onHello(frame);
      break;
    case "chat":
      if (frame.chat && frame.chat.id) onChat(frame.chat);
      break;
    case "event":
      onEvent(frame);
      break;
    case "history":
      if (!takeEarlierHistory(frame)) onHistory(frame);
      break;
    case "earlier":
      onEarlier(frame);
      break;
    case "canned":
      loadCanned(); // a canned response of mine or a shared one changed
      break;
    case "typing":
      onTyping(frame);
      break;
    case "presence":
      onPresence(frame);
      break;
    case "agent":
      onAgent(frame); // a colleague's status, or mine from another device
      break;
    case "ack":
      onAck(frame);
      break;
    case "transferred":
      onTransferred(frame);
      onTakenOver(frame);
      break;
    case "watching":
      onWatching(frame);
      break;
    case "gone":
      onGone(frame);
      break;
    case "error":
      if (!transferFailed(frame)) onError(frame);
      break;
    default:
      break; // pong, and anything newer than this console
  }
}

/* The socket closed: nothing is on its way any more; the pane says so until the next hello. */
export function connectionLost() {
  state.chats.forEach(function (chat) {
    chat.loading = false;
    chat.accepting = false;
  });
  forgetTyping();
  renderComposerState();
  renderHeaderActions();
}

function onHello(frame) {
  var chats = state.chats;
  var first = state.helloCount === 0;
  state.helloCount += 1;
  resetBackoff();
  state.me = frame.me || state.me;
  state.sites = frame.sites || {};
  state.teams = frame.teams || [];
  teamFromHello(frame);
  if (first) loadReadMarks();
  loadCanned(); // a `canned` frame may have been lost with the connection
  setConnection("connected");

  // hello replaces the lists; transcripts we hold stay and catch up from their last seq. It comes on
  // every (re)connect, and on an open socket when the server's bus may have lost messages (a resync).
  var seen = new Set();
  (frame.chats || []).forEach(function (summary) {
    if (!summary || !summary.id) return;
    seen.add(summary.id);
    var chat = chats.get(summary.id);
    if (chat) updateSummary(chat, summary);
    else chats.set(summary.id, makeChat(summary));
  });
  chats.forEach(function (chat, id) {
    if (seen.has(id)) return;
    if (id === state.selectedId) {
      loadHistory(chat); // still shown: refresh its summary through history
      return;
    }
    removeChat(chat);
  });

  if (first) {
    var remembered = null;
    try {
      remembered = window.sessionStorage.getItem("widget_server.console.selected");
    } catch (e) {
      /* ignore */
    }
    if (remembered && chats.has(remembered)) state.selectedId = remembered;
  }
  noticeHello(frame.chats || [], first); // what this hello brings that the console had not seen

  var queued = 0;
  sortedChats("queue").forEach(function (chat) {
    if (chat.events || queued++ < PRELOAD_QUEUE) loadHistory(chat);
  });
  chats.forEach(function (chat) {
    if (chat.events || isMineActive(chat) || chat.id === state.selectedId) loadHistory(chat);
  });

  // Replies typed while we were away: the server dedupes by client id, so resending is safe.
  chats.forEach(function (chat) {
    chat.pending.forEach(function (p) {
      if (!p.acked && !p.failed) sendSay(chat, p);
    });
  });

  renderLists();
  if (first) renderPane();
  else {
    renderPaneHeader();
    renderHeaderActions();
    renderComposerState();
    renderDetails();
  }
  updateTitle();
}

function onChat(summary) {
  var me = state.me;
  var chat = state.chats.get(summary.id);
  var before = null;
  var wasAccepting = !!(chat && chat.accepting);
  var isNew = !chat;
  if (!chat) {
    chat = makeChat(summary);
    state.chats.set(summary.id, chat);
    if (summary.state === "queued" || isMessage(chat)) {
      chat.flashUntil = Date.now() + FLASH_FOR;
      setTimeout(function () { updateItem(chat); }, FLASH_FOR + 50);
    }
  } else {
    before = updateSummary(chat, summary);
  }
  noticeChat(chat, isNew);
  if (wantsTranscript(chat) && !chat.events) loadHistory(chat);

  var acceptedHere = false;
  if (chat.id === state.selectedId && before && before.state === "queued" && summary.state === "active") {
    if (summary.agent === (me && me.name)) acceptedHere = wasAccepting;
    else setNotice(chat, capitalise(agentName(chat)) + " accepted this chat.", "info");
  }
  if (before && summary.state === "ended") stopTypingIn(chat.id);
  if (summary.state === "ended") pruneEnded();
  renderAll();
  if (acceptedHere && state.ui.textarea) state.ui.textarea.focus(); // accepted from here: ready to type
}

function renderAll() {
  renderLists();
  renderMessage();
  renderPaneHeader();
  renderHeaderActions();
  renderComposerState();
  renderDetails();
  renderTyping();
  updateTitle();
}

function onEvent(frame) {
  var chat = state.chats.get(frame.chat);
  if (!chat) return; // its `chat` frame follows; we load its history then
  if (frame.kind === "rating") {
    // Live, whether or not the transcript is loaded; a later rating replaces an earlier one.
    chat.s.rating = frame.rating;
    chat.s.comment = frame.comment || null;
    if (chat.id === state.selectedId) renderPaneHeader();
  }
  applyEvent(chat, frame);
  noticeEvents(chat, [frame]);
  if (frame.kind === "watch" && chat.id === state.selectedId) {
    renderPaneHeader(); // "Watching silently", and no more Join silently
    renderHeaderActions();
    renderComposerState();
  }
  renderLists();
  updateTitle();
}

/* `gone`: the chat left my sight (transferred to a team I am not in): it leaves the lists and the pane. */
function onGone(frame) {
  var chat = state.chats.get(frame.chat);
  if (!chat) return;
  removeChat(chat);
  if (state.selectedId === chat.id) {
    state.selectedId = null;
    renderPane();
  }
  renderAll();
}

/* `watching`: my silent join is stored (its `watch` event shows it); what I write there is a note. */
function onWatching(frame) {
  if (frame.id) state.requests.delete(frame.id);
  var chat = state.chats.get(frame.chat);
  if (!chat) return;
  if (!chat.events) loadHistory(chat); // followed from now on (wantsTranscript)
  chat.composeMode = "note";
  if (chat.id === state.selectedId) renderAll();
}

/* `transferred` to me: a take-over; the chat is mine (its `chat` frame follows), so a reply again. */
function onTakenOver(frame) {
  var me = state.me;
  var chat = state.chats.get(frame.chat);
  if (!chat || !me || frame.to !== me.name) return;
  chat.composeMode = "reply";
  if (chat.id === state.selectedId) renderComposerState();
}

function onHistory(frame) {
  var chat = state.chats.get(frame.chat);
  if (!chat) {
    if (!frame.summary) return;
    chat = makeChat(frame.summary);
    state.chats.set(chat.id, chat);
  } else if (frame.summary) {
    updateSummary(chat, frame.summary);
  }
  chat.loading = false;
  var firstLoad = !chat.events;
  if (firstLoad) {
    chat.events = [];
    chat.lastSeq = 0;
    chat.unread = 0;
  }
  var gap = appendHistory(chat, frame.events || []);
  noticeEvents(chat, frame.events || []); // what a reconnect missed is news; what was there before is not
  if (chat.id === state.selectedId) {
    if (firstLoad) renderTranscript();
    if (isVisible()) markRead(chat);
  }
  if (gap) loadHistory(chat);
  renderAll();
}

function onPresence(frame) {
  var chat = state.chats.get(frame.chat);
  if (!chat) return;
  chat.s.online = !!frame.online;
  updateItem(chat);
  if (chat.id === state.selectedId) renderPaneHeader();
}

function onAck(frame) {
  var request = state.requests.get(frame.id);
  state.requests.delete(frame.id);
  var chat = state.chats.get(frame.chat || (request && request.chat));
  if (!chat) return;
  var clientId = request && request.clientId ? request.clientId : frame.id;
  chat.pending.forEach(function (p) {
    if (p.id !== clientId) return;
    p.acked = true;
    p.seq = frame.seq;
  });
  if (chat.events && typeof frame.seq === "number") {
    if (frame.seq <= chat.lastSeq) {
      // The event is already here (it normally comes just before its ack).
      chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
      removePendingDom(clientId);
    } else {
      loadHistory(chat); // it did not come through the live feed (a resend after reconnecting): fetch it
    }
  }
  if (chat.id === state.selectedId) renderPending(chat);
}

function onError(frame) {
  var request = frame.id ? state.requests.get(frame.id) : null;
  if (frame.id) state.requests.delete(frame.id);
  var text = ERROR_TEXT[frame.code] || frame.message || "Something went wrong.";
  var chat = request ? state.chats.get(request.chat) : null;
  if (request && chat) {
    if (request.kind === "say") {
      chat.pending.forEach(function (p) {
        if (p.id === request.clientId) p.failed = true;
      });
      if (chat.id === state.selectedId) renderPending(chat);
    }
    if (request.kind === "accept") chat.accepting = false;
    if (request.kind === "earlier") return earlierFailed(chat.id);
    if (request.kind === "history") {
      chat.loading = false;
      if (!chat.events && chat.id === state.selectedId) {
        chat.events = [];
        renderTranscript();
      }
    }
    if (request.kind === "typing") return; // never worth a notice
    setNotice(chat, text, "error");
    renderHeaderActions();
    return;
  }
  // Not tied to a chat of ours: show it where the agent is looking.
  var shown = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (shown) setNotice(shown, text, "error");
  else setConnectionDetail(text);
}

/* A console stays open all day: forget ended chats beyond the recent ones the list shows. */
function pruneEnded() {
  var ended = [];
  var messages = [];
  state.chats.forEach(function (chat) {
    if (chat.s.state !== "ended" || chat.id === state.selectedId || chat.pending.length || chat.uploads.length) return;
    (isMessage(chat) ? messages : ended).push(chat);
  });
  [[ended, MAX_ENDED_SHOWN], [messages, MAX_MESSAGES_SHOWN]].forEach(function (group) {
    if (group[0].length <= group[1]) return;
    group[0].sort(function (a, b) {
      return parseTime(b.s.endedAt || b.s.createdAt) - parseTime(a.s.endedAt || a.s.createdAt);
    });
    group[0].slice(group[1]).forEach(removeChat);
  });
}

function removeChat(chat) {
  if (chat.li && chat.li.parentNode) chat.li.parentNode.removeChild(chat.li);
  clearTimeout(chat.typingTimer);
  state.chats.delete(chat.id);
}
