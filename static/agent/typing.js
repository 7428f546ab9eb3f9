/* Typing, both ways: the agent's "typing" frames (sent at most every few seconds while they type, stopped
 * after a pause), and the visitor's "is typing…" line, which hides itself if no update comes. */

import { isMineActive, nickname } from "./chats.js";
import { TYPING_IDLE, TYPING_REPEAT, VISITOR_TYPING_TTL } from "./config.js";
import { updateItem } from "./lists.js";
import { requestId } from "./requests.js";
import { state } from "./state.js";
import { renderTyping } from "./transcript.js";
import { send } from "./wire.js";

var typingOut = { chat: null, active: false, lastSent: 0, idleTimer: 0 };

export function onComposerInput() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.textarea) return;
  chat.draft = ui.textarea.value;
  if (!isMineActive(chat) || chat.composeMode === "note") return; // a note: the visitor sees no typing
  if (!ui.textarea.value.trim()) {
    stopTyping();
    return;
  }
  var now = Date.now();
  if (typingOut.chat !== chat.id) stopTyping();
  if (!typingOut.active || now - typingOut.lastSent >= TYPING_REPEAT) {
    if (send({ type: "typing", chat: chat.id, active: true, id: requestId(chat.id, "typing") })) {
      typingOut.chat = chat.id;
      typingOut.active = true;
      typingOut.lastSent = now;
    }
  }
  clearTimeout(typingOut.idleTimer);
  typingOut.idleTimer = setTimeout(stopTyping, TYPING_IDLE);
}

/* The composer lost focus: typing stops after the usual pause, not at once. */
export function onComposerBlur() {
  if (typingOut.active) {
    clearTimeout(typingOut.idleTimer);
    typingOut.idleTimer = setTimeout(stopTyping, TYPING_IDLE);
  }
}

export function stopTyping() {
  clearTimeout(typingOut.idleTimer);
  if (typingOut.active && typingOut.chat) {
    send({ type: "typing", chat: typingOut.chat, active: false, id: requestId(typingOut.chat, "typing") });
  }
  typingOut.active = false;
  typingOut.lastSent = 0;
}

/* Stop typing if it was this chat that we typed in (it ended, or the agent ended it). */
export function stopTypingIn(chatId) {
  if (chatId === typingOut.chat) stopTyping();
}

/* The socket closed: the server forgets our typing with it; the next keystroke starts it again. */
export function forgetTyping() {
  typingOut.active = false;
}

export function onTyping(frame) {
  var chat = state.chats.get(frame.chat);
  if (!chat) return;
  clearTimeout(chat.typingTimer);
  if (frame.active) {
    chat.typing = { name: frame.name || nickname(chat) };
    chat.typingTimer = setTimeout(function () { clearVisitorTyping(chat); }, VISITOR_TYPING_TTL);
  } else {
    chat.typing = null;
  }
  updateItem(chat);
  if (chat.id === state.selectedId) renderTyping();
}

export function clearVisitorTyping(chat) {
  clearTimeout(chat.typingTimer);
  chat.typing = null;
  updateItem(chat);
  if (chat.id === state.selectedId) renderTyping();
}
