/* Internal notes: the composer's Reply | Note switch, the composer in note mode (yellow, "Only your team
 * sees notes"), and a note as the transcript shows it, a card of its own ("Note · Ana · 14:02") that looks
 * like no message to the visitor. A note goes out as a reply does: pending until its `ack`, sent again
 * after a reconnect, Retry and Discard if refused (requests.js sends a `note` frame for a pending item
 * with `note: true`). The server never sends a note to the visitor (docs/protocol.md, "Internal notes");
 * any agent may write one in any chat of the built-in contact center, whether or not it is theirs. */

import { isMineActive, nickname } from "./chats.js";
import { el, icon, linkify } from "./dom.js";
import { state } from "./state.js";
import { timeEl } from "./time.js";

export function isNoteMode(chat) {
  return !!chat && chat.composeMode === "note";
}

/* The two radio buttons above the composer: arrow keys move between them, as in any radio group. */
export function modeSwitch(chat, onChange) {
  var group = el("div", { class: "compose-mode", role: "radiogroup", "aria-label": "Write a reply or a note" });
  [
    ["reply", "Reply", "Reply (the visitor sees it)"],
    ["note", "Note", "Note (only your team sees it)"],
  ].forEach(function (option) {
    var input = el("input", {
      type: "radio",
      name: "compose-mode",
      value: option[0],
      class: "mode-radio",
      "aria-label": option[2],
      checked: (chat.composeMode || "reply") === option[0],
      onchange: function () {
        if (input.checked) onChange(option[0]);
      },
    });
    group.append(el("label", { class: "mode-option mode-" + option[0] }, input, el("span", { class: "mode-text" }, option[0] === "note" ? icon("lock", 13) : null, option[1])));
  });
  return group;
}

/* The composer as note mode wants it, if the chat is in note mode (true); else only what note mode
 * changed is put back, and pane.js goes on with the reply composer (false). */
export function renderNoteComposer(ui, chat) {
  var note = isNoteMode(chat);
  var radios = ui.composer.querySelectorAll(".mode-radio");
  for (var i = 0; i < radios.length; i++) radios[i].checked = radios[i].value === (note ? "note" : "reply");
  ui.composer.classList.toggle("note-mode", note);
  ui.noteBadge.hidden = !note;
  ui.textareaLabel.textContent = note ? "Note" : "Reply";
  ui.composer.setAttribute("aria-label", note ? "Note for your team" : "Reply to the visitor");
  ui.send.replaceChildren(icon(note ? "lock" : "send"), note ? "Add note" : "Send");
  if (!note) return false;
  ui.textarea.disabled = false;
  ui.send.disabled = false;
  ui.attach.hidden = true; // files go to the visitor: never from note mode
  ui.composer.classList.remove("disabled");
  ui.textarea.placeholder = "Write a note for your team…";
  ui.hint.textContent = state.socketOpen
    ? "Enter to add the note · Shift+Enter for a new line" + (isMineActive(chat) ? "" : " · " + nickname(chat) + " never sees it")
    : "Offline: the note is added when the connection is back.";
  return true;
}

/* A note in the transcript: a stored one (`ev`), or mine on its way (`pending` with its status node). */
export function noteLine(name, text, at, status) {
  var me = state.me;
  var mine = !!me && name === me.displayName;
  var meta = el(
    "p",
    { class: "note-meta" },
    icon("lock", 13),
    el("span", { class: "note-label", text: "Note" }),
    el("span", { class: "sep", "aria-hidden": "true", text: "·" }),
    el("span", { class: "note-author", text: mine || status ? "You" : name || "An agent" }),
    el("span", { class: "sep", "aria-hidden": "true", text: "·" }),
    status || timeEl(at)
  );
  return el("li", { class: "note" }, el("div", { class: "note-card" }, meta, el("div", { class: "note-text" }, linkify(text || ""))));
}
