/* The frames that ask the server for something (history, say), and the ids that tie an answer (`ack`,
 * `error`, `history`) back to its chat and kind through state.requests. */

import { state } from "./state.js";
import { send } from "./wire.js";

var requestCounter = 0;

export function randomId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  var bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
}

export function requestId(chatId, kind, extra) {
  var requests = state.requests;
  requestCounter += 1;
  var id = "r" + requestCounter.toString(36) + "-" + kind;
  requests.set(id, Object.assign({ chat: chatId, kind: kind }, extra || {}));
  if (requests.size > 500) requests.delete(requests.keys().next().value);
  return id;
}

/* The rest of a chat's log after the last seq we hold (all of it the first time); chat-log.js merges it. */
export function loadHistory(chat) {
  if (chat.loading || !state.socketOpen) return;
  chat.loading = true;
  var after = chat.events ? chat.lastSeq : 0;
  send({ type: "history", chat: chat.id, after: after, id: requestId(chat.id, "history") });
}

/* A reply, or an internal note (`pending.note`): the same ids, acks and errors. */
export function sendSay(chat, pending) {
  pending.failed = false;
  send({
    type: pending.note ? "note" : "say",
    chat: chat.id,
    id: pending.id,
    text: pending.text,
  });
  // Errors and acks name the client id; remember which chat it was.
  state.requests.set(pending.id, { chat: chat.id, kind: "say", clientId: pending.id });
}
