/* Keyboard shortcuts, and the dialog that lists them ("?"). The Alt combinations work everywhere, the
 * reply box included; the single keys only while no text field has the focus (so typing a "j" types a
 * "j"), and none while a dialog is open. Keys are matched by their place (event.code) for the Alt
 * combinations: on a Mac, Option with a letter types a symbol, whose key is no letter. */

import { openDialog, anyDialogOpen } from "./dialog.js";
import { el } from "./dom.js";
import { handlers } from "./handlers.js";
import { setComposeMode } from "./pane.js";
import { state } from "./state.js";

var SHORTCUTS = [
  [["Alt", "↓"], ["J"], "Next chat in the lists"],
  [["Alt", "↑"], ["K"], "Previous chat in the lists"],
  [["Alt", "A"], null, "Accept the waiting chat that is open"],
  [["Alt", "X"], null, "End the chat that is open (press twice: it asks first)"],
  [["Alt", "R"], ["R"], "Go to the reply box"],
  [["Alt", "N"], null, "Switch the reply box between a reply and an internal note"],
  [["/"], null, "At the start of the reply box: canned responses"],
  [["?"], null, "This list of shortcuts"],
  [["Esc"], null, "Close a list or a dialog"],
];

/* In the capture phase: Alt+Up and Down mean "the previous or next chat" even on a chat in the lists,
 * whose own Up and Down move the focus only. */
export function initShortcuts() {
  document.addEventListener("keydown", onKey, true);
}

function isTyping(target) {
  if (!target || !target.tagName) return false;
  var tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
}

function onKey(event) {
  if (event.defaultPrevented || event.isComposing || anyDialogOpen()) return;
  if (event.ctrlKey || event.metaKey) return; // the browser's and the system's own
  var done = true;
  if (event.altKey && !event.shiftKey) {
    var code = event.code;
    if (code === "ArrowDown") move(1);
    else if (code === "ArrowUp") move(-1);
    else if (code === "KeyA") acceptOpen();
    else if (code === "KeyX") endOpen();
    else if (code === "KeyR") focusReply();
    else if (code === "KeyN") toggleNote();
    else done = false;
  } else if (!event.altKey && !isTyping(event.target)) {
    var key = event.key;
    if (key === "j" || key === "J") move(1);
    else if (key === "k" || key === "K") move(-1);
    else if (key === "r" || key === "R") focusReply();
    else if (key === "?") showShortcuts();
    else done = false;
  } else {
    done = false;
  }
  if (done) event.preventDefault();
}

/* The next or previous chat as the lists show them (Waiting, My chats, Messages, Others). The focus
 * follows: into the new reply box if it was in one and the new one takes text, else onto the chat's
 * place in the list, so the next J or K goes on from there. */
function move(step) {
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".lists .chat-item"));
  if (!buttons.length) return;
  var index = -1;
  buttons.forEach(function (button, i) {
    if (button.getAttribute("data-chat") === state.selectedId) index = i;
  });
  var next = index < 0 ? (step > 0 ? buttons[0] : buttons[buttons.length - 1]) : buttons[index + step];
  if (!next) return;
  var wasTyping = !!state.ui.textarea && document.activeElement === state.ui.textarea;
  var id = next.getAttribute("data-chat");
  handlers.select(id);
  var chat = state.chats.get(id);
  if (wasTyping && state.ui.textarea && !state.ui.textarea.disabled) state.ui.textarea.focus();
  else if (chat && chat.button && chat.button.isConnected) chat.button.focus();
}

function openChat() {
  return state.selectedId ? state.chats.get(state.selectedId) : null;
}

function acceptOpen() {
  var chat = openChat();
  if (chat && chat.s.state === "queued") handlers.accept(chat);
}

/* The End chat button's own two steps: the first press asks, the second (within its few seconds) ends. */
function endOpen() {
  var button = state.ui.actions ? state.ui.actions.querySelector("button.danger-ghost") : null;
  if (!button || button.disabled) return;
  button.click();
  if (button.isConnected) button.focus();
}

function focusReply() {
  var ui = state.ui;
  if (ui.textarea && !ui.textarea.disabled) ui.textarea.focus();
}

function toggleNote() {
  var chat = openChat();
  if (!chat || !state.ui.textarea) return;
  setComposeMode(chat, chat.composeMode === "note" ? "reply" : "note");
  focusReply();
}

export function showShortcuts() {
  var rows = el("tbody");
  SHORTCUTS.forEach(function (shortcut) {
    var keys = el("td", { class: "keys" }, combination(shortcut[0]));
    if (shortcut[1]) keys.append(el("span", { class: "or", text: " or " }), combination(shortcut[1]));
    rows.append(el("tr", null, keys, el("td", { text: shortcut[2] })));
  });
  var body = el(
    "div",
    { class: "dialog-body" },
    el(
      "table",
      { class: "shortcut-table" },
      el("caption", { class: "vh", text: "Keyboard shortcuts" }),
      el("thead", { class: "vh" }, el("tr", null, el("th", { scope: "col", text: "Keys" }), el("th", { scope: "col", text: "What they do" }))),
      rows
    ),
    el("p", { class: "shortcut-note", text: "Single keys work while you are not typing in a field; the Alt combinations work everywhere. On a Mac, Alt is Option." })
  );
  openDialog({ id: "shortcuts-dialog", title: "Keyboard shortcuts", className: "shortcuts-dialog", body: body });
}

function combination(keys) {
  var node = el("span", { class: "combo" });
  keys.forEach(function (key, i) {
    if (i) node.append("+");
    node.append(el("kbd", { text: key }));
  });
  return node;
}
