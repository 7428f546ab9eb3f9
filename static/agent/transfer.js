/* Transferring a chat of mine to a colleague or a team: the header's Transfer button opens a dialog
 * (dialog.js) to choose a colleague the console knows (status.js) or one of the teams (the hello's
 * `teams`: the chat goes back to waiting, for them), with an optional note; the server answers
 * `transferred` or an `error` with the frame's id (widget_server/transfers.py). */

import { openDialog } from "./dialog.js";
import { el, icon } from "./dom.js";
import { requestId } from "./requests.js";
import { state } from "./state.js";
import { teamMembers } from "./status.js";
import { send } from "./wire.js";

var STATUS = { online: "online", away: "away", offline: "offline" };
var open = null; // {chat, dialog, requestId, submit, error} while the dialog is open

export function transferButton(chat) {
  var button = el(
    "button",
    { type: "button", class: "btn ghost small", "aria-haspopup": "dialog", onclick: function () { openTransfer(chat); } },
    "Transfer"
  );
  button.disabled = !state.socketOpen;
  return button;
}

export function openTransfer(chat) {
  var me = state.me ? state.me.name : null;
  var colleagues = teamMembers().filter(function (member) { return member.name !== me; });
  var error = el("p", { id: "transfer-error", class: "canned-form-error", role: "alert", hidden: true });
  var teams = state.teams || [];
  var select = el("select", { id: "transfer-to", class: "canned-input", required: true, "aria-describedby": "transfer-error" });
  var people = el("optgroup", { label: "Colleagues" });
  colleagues.forEach(function (member) {
    var status = STATUS[member.status] || "offline";
    people.append(el("option", { value: member.name, text: (member.displayName || member.name) + " (" + status + ")" }));
  });
  var groups = el("optgroup", { label: "Teams (the chat waits for them)" });
  teams.forEach(function (team) {
    groups.append(el("option", { value: "team " + team.id, "data-team": team.id, text: team.name || team.id }));
  });
  if (colleagues.length) select.append(people);
  if (teams.length) select.append(groups);
  var choices = colleagues.length + teams.length;
  var note = el("textarea", { id: "transfer-note", class: "canned-input", rows: "4", maxlength: "4000" });
  var submit = el("button", { type: "submit", class: "btn primary" }, "Transfer");
  submit.disabled = choices === 0;
  var cancel = el("button", { type: "button", class: "btn ghost", onclick: function () { dialog.close(); } }, "Cancel");
  var form = el(
    "form",
    { class: "canned-form transfer-form", novalidate: true, onsubmit: onSubmit },
    choices
      ? el("div", { class: "canned-field" }, el("label", { for: "transfer-to", text: teams.length ? "Colleague or team" : "Colleague" }), select)
      : el("p", { class: "muted", text: "There is no colleague to transfer to." }),
    el(
      "div",
      { class: "canned-field" },
      el("label", { for: "transfer-note", text: "Note for them (optional, agents only)" }),
      note
    ),
    error,
    el("div", { class: "canned-form-actions" }, cancel, submit)
  );
  var dialog = openDialog({
    id: "transfer-dialog",
    className: "transfer-dialog",
    title: "Transfer chat",
    subtitle: el("span", null, icon("lock", 12), " The visitor sees that someone else joined, not the note."),
    body: el("div", { class: "dialog-body" }, form),
    focus: choices ? select : cancel,
    onClose: function () { open = null; },
  });
  open = { chat: chat.id, dialog: dialog, requestId: null, submit: submit, error: error };

  function onSubmit(event) {
    event.preventDefault();
    if (!select.value) return;
    var id = requestId(chat.id, "transfer");
    var frame = { type: "transfer", chat: chat.id, id: id };
    var team = select.selectedOptions[0].getAttribute("data-team");
    if (team !== null) frame.team = team;
    else frame.to = select.value;
    if (note.value.trim()) frame.note = note.value;
    if (!send(frame)) return showError("Not connected; try again in a moment.");
    open.requestId = id;
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = "Transferring…";
  }
}

function showError(text) {
  if (!open) return;
  open.error.textContent = text;
  open.error.hidden = false;
  open.submit.disabled = false;
  open.submit.textContent = "Transfer";
}

/* `transferred`: the chat is theirs now (its `chat` frame updates the lists); the dialog closes. */
export function onTransferred(frame) {
  if (frame.id) state.requests.delete(frame.id);
  if (open && frame.id && frame.id === open.requestId) open.dialog.close();
}

/* An error answering a transfer: shown in the dialog when it is still open. Returns whether it was. */
export function transferFailed(frame) {
  if (!open || !frame.id || frame.id !== open.requestId) return false;
  showError(frame.message || "The chat could not be transferred.");
  return true;
}
