/* The notification settings in the top bar (templates/agent.html): the bell opens a small panel with two
 * switches, sound and desktop notifications, kept per agent by notify.js; and, while the browser has
 * not been asked, the one button that asks it. The bell carries a dot until desktop notifications work
 * or are turned off, so an agent who never opens the panel still sees that something is missing. */

import { $ } from "./dom.js";
import { askPermission, changeSetting, permission, settings, whenSettingsKnown } from "./notify.js";

var PERMISSION_TEXT = {
  default: "This browser has not been allowed to show them yet.",
  denied: "The browser blocks them for this site: allow notifications in its site settings (the icon before the address).",
  unsupported: "This browser cannot show them here (they need https).",
};

export function initSettings() {
  var button = $("notify-button");
  var panel = $("notify-panel");
  if (!button || !panel) return;
  var menu = button.parentNode;

  function open(on) {
    if (on) render();
    panel.hidden = !on;
    button.setAttribute("aria-expanded", on ? "true" : "false");
  }

  button.addEventListener("click", function () { open(panel.hidden); });
  menu.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || panel.hidden) return;
    open(false);
    button.focus();
  });
  // A click or focus anywhere else closes it, as a menu does.
  document.addEventListener("pointerdown", function (event) {
    if (!panel.hidden && !menu.contains(event.target)) open(false);
  });
  menu.addEventListener("focusout", function (event) {
    if (!panel.hidden && event.relatedTarget && !menu.contains(event.relatedTarget)) open(false);
  });

  $("notify-sound").addEventListener("change", function (event) {
    changeSetting("sound", event.target.checked);
  });
  $("notify-desktop").addEventListener("change", function (event) {
    changeSetting("desktop", event.target.checked);
    if (event.target.checked) askPermission().then(render); // the switch's click is the gesture
    else render();
  });
  $("notify-enable").addEventListener("click", function () {
    askPermission().then(render);
  });

  // Allowed or blocked from the browser's own controls, while the console is open.
  if (navigator.permissions && navigator.permissions.query) {
    navigator.permissions.query({ name: "notifications" }).then(
      function (status) { status.addEventListener("change", render); },
      function () {}
    );
  }
  whenSettingsKnown(render);
  render();
}

/* The panel and the bell as the settings and the browser's permission are now. */
export function render() {
  var button = $("notify-button");
  if (!button) return;
  var wanted = settings();
  var allowed = permission();
  $("notify-sound").checked = wanted.sound;
  $("notify-desktop").checked = wanted.desktop;
  var missing = wanted.desktop && allowed !== "granted";
  $("notify-permission").hidden = !missing;
  $("notify-permission-text").textContent = PERMISSION_TEXT[allowed] || "";
  $("notify-enable").hidden = allowed !== "default";
  button.classList.toggle("attention", wanted.desktop && allowed === "default");
  button.title = wanted.desktop && allowed === "default"
    ? "Notification settings: desktop notifications are not enabled yet"
    : "Notification settings";
}
