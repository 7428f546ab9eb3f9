/* What tells the agent at a glance, even from another tab: the connection state, and how many visitors
 * wait (or wrote to me unread) in the page title, the favicon, the lists' headings and the empty pane. */

import { isMessage, isMineActive, listOf, messageUnread } from "./chats.js";
import { $ } from "./dom.js";
import { state } from "./state.js";

var baseTitle = document.title.split(" · ")[0] || "Agent console";
var favicon = null;

var connectionLabels = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
};

export function setConnection(connection) {
  var node = $("connection");
  if (!node) return;
  if (node.getAttribute("data-state") === connection) return;
  node.setAttribute("data-state", connection);
  node.textContent = connectionLabels[connection] || connection;
  var retryButton = $("reconnect-now");
  if (retryButton) retryButton.hidden = connection !== "reconnecting";
}

export function setConnectionDetail(text) {
  var node = $("connection");
  if (node) node.title = text;
}

export function updateTitle() {
  var chats = state.chats;
  var waiting = 0;
  var unread = 0;
  chats.forEach(function (chat) {
    if (chat.s.state === "queued") waiting += 1;
    else if (isMineActive(chat)) unread += chat.unread;
  });
  var count = waiting + unread;
  renderEmptyHint();
  var title = (count ? "(" + count + ") " : "") + baseTitle;
  if (document.title !== title) document.title = title;
  var qc = $("queue-count");
  if (qc) {
    qc.textContent = String(waiting);
    qc.classList.toggle("zero", waiting === 0);
  }
  var mc = $("mine-count");
  if (mc) {
    var mine = 0;
    chats.forEach(function (chat) { if (isMineActive(chat)) mine += 1; });
    mc.textContent = String(mine);
  }
  var unreadMessages = 0;
  chats.forEach(function (chat) { if (isMessage(chat) && messageUnread(chat)) unreadMessages += 1; });
  var msgc = $("messages-count");
  if (msgc) {
    msgc.textContent = String(unreadMessages);
    msgc.classList.toggle("zero", unreadMessages === 0);
  }
  var oc = $("others-count");
  if (oc) {
    var others = 0;
    chats.forEach(function (chat) { if (listOf(chat) === "others" && chat.s.state === "active") others += 1; });
    oc.textContent = String(others);
  }
  if (!favicon) favicon = document.querySelector("link[rel~='icon']");
  if (favicon) {
    var wanted = faviconUrl(count > 0);
    if (favicon.getAttribute("href") !== wanted) favicon.setAttribute("href", wanted);
  }
}

function faviconUrl(alert) {
  var mark =
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>" +
    "<rect x='1' y='1' width='30' height='30' rx='8' fill='%234f46e5'/>" +
    "<path d='M9 10.5A2.5 2.5 0 0 1 11.5 8h9A2.5 2.5 0 0 1 23 10.5v6a2.5 2.5 0 0 1-2.5 2.5H15l-4 3.5V19h0.5' fill='none' stroke='white' stroke-width='2' stroke-linejoin='round'/>" +
    (alert ? "<circle cx='25' cy='7' r='6' fill='%23e11d48' stroke='white' stroke-width='2'/>" : "") +
    "</svg>";
  return "data:image/svg+xml," + mark;
}

/* The pane with no chat selected says how many are waiting; pane.js builds the line, this keeps it current. */
export function renderEmptyHint() {
  var ui = state.ui;
  if (!ui.emptyHint) return;
  var me = state.me;
  var waiting = 0;
  state.chats.forEach(function (chat) { if (chat.s.state === "queued") waiting += 1; });
  var text;
  if (!me) text = "Connecting…";
  else if (waiting === 1) text = "One visitor is waiting. Select the chat on the left to accept it.";
  else if (waiting > 1) text = waiting + " visitors are waiting. The oldest is at the top of the list.";
  else text = "Nobody is waiting right now. New chats appear on the left.";
  if (ui.emptyHint.textContent !== text) ui.emptyHint.textContent = text;
}
