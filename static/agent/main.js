/* The agent console: lists of chats, one chat's transcript and composer, over /agent/ws. Native ES modules,
 * no build step, no dependency; this entry wires them together and starts. The page's CSP allows scripts
 * and styles from this server only, so nothing here uses inline styles or inline handlers. */

import { accept, discard, endChat, joinSilently, markRead, retry, select, sendFile, sendReply, takeOver } from "./actions.js";
import { openCannedDialog } from "./canned-dialog.js";
import { isVisible } from "./chats.js";
import { CLOCK_EVERY } from "./config.js";
import { $ } from "./dom.js";
import { connectionLost, receive } from "./frames.js";
import { handlers } from "./handlers.js";
import { updateTitle } from "./indicators.js";
import { onListKey, tickLists } from "./lists.js";
import { listenForGesture, noticeAttention } from "./notify.js";
import { renderPane, renderSince } from "./pane.js";
import { initSettings } from "./settings.js";
import { initShortcuts, showShortcuts } from "./shortcuts.js";
import { state } from "./state.js";
import { initStatus } from "./status.js";
import { connect, listen, reconnectNow } from "./wire.js";

function tick() {
  tickLists();
  if (state.ui.since) renderSince();
}

function start() {
  Object.assign(handlers, {
    select: function (id) {
      select(id);
      noticeAttention(); // opened: its notification has done its job
    },
    accept: accept,
    endChat: endChat,
    join: joinSilently,
    takeOver: takeOver,
    sendReply: sendReply,
    sendFile: sendFile,
    retry: retry,
    discard: discard,
    openCanned: openCannedDialog,
    showShortcuts: showShortcuts,
  });
  initShortcuts();

  var nav = document.querySelector(".lists");
  if (nav) nav.addEventListener("keydown", onListKey);

  var retryButton = $("reconnect-now");
  if (retryButton) retryButton.addEventListener("click", reconnectNow);

  function onAttention() {
    if (!isVisible()) return;
    var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
    if (chat) markRead(chat);
    noticeAttention();
  }
  document.addEventListener("visibilitychange", onAttention);
  window.addEventListener("focus", onAttention);
  window.addEventListener("online", reconnectNow);
  window.addEventListener("beforeunload", function (event) {
    var unsent = false;
    state.chats.forEach(function (chat) {
      if (chat.pending.some(function (p) { return !p.acked; }) || chat.uploads.length) unsent = true;
    });
    if (unsent) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  initSettings();
  listenForGesture();
  initStatus();
  setInterval(tick, CLOCK_EVERY);
  renderPane();
  updateTitle();
  listen(receive, connectionLost);
  connect();
}

// A module script runs once the document is parsed (modules are deferred), so the page is there.
start();
