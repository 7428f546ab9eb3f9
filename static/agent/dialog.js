/* The console's modal dialogs (canned responses, keyboard shortcuts, an earlier chat): a <dialog> opened
 * with showModal, so the browser keeps the focus inside, makes the page behind it inert and closes it on
 * Escape. Each is built when opened and removed when closed, and the focus goes back where it was. */

import { el, icon } from "./dom.js";

export function openDialog(options) {
  var old = document.getElementById(options.id);
  if (old && old.open) old.close();
  var opener = document.activeElement;
  var titleId = options.id + "-title";
  var dialog = el("dialog", { id: options.id, class: "dialog " + (options.className || ""), "aria-labelledby": titleId });
  var close = el(
    "button",
    { type: "button", class: "icon-button dialog-close", "aria-label": "Close", title: "Close (Esc)", onclick: function () { dialog.close(); } },
    icon("close", 16)
  );
  var titles = el("div", { class: "dialog-titles" }, el("h2", { id: titleId, class: "dialog-title", text: options.title }));
  if (options.subtitle) titles.append(el("p", { class: "dialog-sub" }, options.subtitle));
  dialog.append(el("header", { class: "dialog-head" }, titles, close), options.body);
  dialog.addEventListener("close", function () {
    // The close event comes a task after the dialog closed: a key pressed meanwhile (R: to the reply box)
    // may have put the focus somewhere already, and it stays there.
    var active = document.activeElement;
    var unclaimed = !active || active === document.body || dialog.contains(active);
    dialog.remove();
    if (options.onClose) options.onClose();
    var back = options.returnFocus ? options.returnFocus() : opener;
    if (unclaimed && back && back.isConnected && typeof back.focus === "function") back.focus();
  });
  // A press on the backdrop (the dialog element itself, outside its content) closes it.
  dialog.addEventListener("mousedown", function (event) {
    if (event.target === dialog) dialog.close();
  });
  document.body.append(dialog);
  dialog.showModal();
  if (options.focus) options.focus.focus();
  return dialog;
}

export function anyDialogOpen() {
  return !!document.querySelector("dialog[open]");
}
