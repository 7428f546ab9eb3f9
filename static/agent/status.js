/* The agent's status (online, away, offline): the control in the top bar, the banner while offline, and
 * the Team section in the lists, where colleagues' status and open chats show. The server keeps the
 * choice with the agent (widget_server/agent_status.py); this module shows it, sends a new one (a
 * `status` frame), and takes the team from `hello` and every change from an `agent` frame.
 *
 * The control is a menu button (WAI-ARIA's pattern): Enter, Space or Down opens it on the current
 * status, Up and Down (Home, End) move, Enter or Space chooses, Escape closes and returns to the button. */

import { $, el, visuallyHidden } from "./dom.js";
import { state } from "./state.js";
import { send } from "./wire.js";

var LABELS = { online: "Online", away: "Away", offline: "Offline" };
var ORDER = { online: 0, away: 1, offline: 2 };

var team = new Map(); // user name -> {name, displayName, status}, as the server last said
var mine = null; // my status as last chosen here or told by the server
var items = []; // the menu's options
var shownTeam = ""; // what the Team list shows now, to skip rebuilding it when nothing changed

function known(status) {
  return Object.prototype.hasOwnProperty.call(LABELS, status) ? status : "offline";
}

export function initStatus() {
  var button = $("status-button");
  var menu = $("status-menu");
  if (!button || !menu) return;
  var control = button.parentNode;
  mine = known(button.getAttribute("data-status")); // as the page was rendered, until the hello
  items = Array.prototype.slice.call(menu.querySelectorAll('[role="menuitemradio"]'));

  function open(index) {
    renderMine();
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    if (index === null) index = Math.max(0, items.findIndex(function (item) { return item.getAttribute("data-status") === mine; }));
    items[index].focus();
  }

  function close(refocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus) button.focus();
  }

  button.addEventListener("click", function () {
    if (menu.hidden) open(null);
    else close(false);
  });
  button.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    open(event.key === "ArrowUp" ? items.length - 1 : null);
  });
  menu.addEventListener("keydown", function (event) {
    var index = items.indexOf(document.activeElement);
    var next;
    if (event.key === "ArrowDown") next = (index + 1) % items.length;
    else if (event.key === "ArrowUp") next = (index - 1 + items.length) % items.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    else if (event.key === "Escape") {
      event.preventDefault();
      close(true);
      return;
    } else {
      if (event.key === "Tab") close(false);
      return;
    }
    event.preventDefault();
    items[next].focus();
  });
  items.forEach(function (item) {
    item.addEventListener("click", function () {
      choose(item.getAttribute("data-status"));
      close(true);
    });
  });
  // A click or focus anywhere else closes it, as a menu does.
  document.addEventListener("pointerdown", function (event) {
    if (!menu.hidden && !control.contains(event.target)) close(false);
  });
  control.addEventListener("focusout", function (event) {
    if (!menu.hidden && event.relatedTarget && !control.contains(event.relatedTarget)) close(false);
  });

  var goOnline = $("go-online");
  if (goOnline) goOnline.addEventListener("click", function () { choose("online"); });
  renderMine();
}

/* Shown at once; the server stores it and tells every console (this one too) with an `agent` frame. */
function choose(status) {
  if (!LABELS[status] || status === mine) return;
  if (!send({ type: "status", status: status })) {
    var button = $("status-button");
    if (button) button.title = "Not connected: your status can change once the console is connected again.";
    return;
  }
  mine = status;
  renderMine();
}

/* My status as the console last knew it: "online", "away" or "offline". */
export function myStatus() {
  return mine || "online";
}

/* The hello: the whole team, and my status as stored. */
export function teamFromHello(frame) {
  team = new Map();
  (frame.team || []).forEach(function (member) {
    if (member && member.name) team.set(member.name, member);
  });
  if (frame.me && frame.me.status) mine = known(frame.me.status);
  renderMine();
  renderTeam();
}

/* An `agent` frame: one user's status changed (or they were removed). */
export function onAgent(frame) {
  var member = frame.agent;
  if (!member || !member.name) return;
  if (member.removed) team.delete(member.name);
  else team.set(member.name, member);
  if (state.me && member.name === state.me.name && !member.removed) {
    mine = known(member.status);
    renderMine();
  }
  renderTeam();
}

function renderMine() {
  var button = $("status-button");
  if (!button || !mine) return;
  button.setAttribute("data-status", mine);
  button.title = "Your status: " + LABELS[mine];
  var dot = button.querySelector(".agent-dot");
  if (dot) dot.className = "agent-dot " + mine;
  var label = $("status-label");
  if (label) label.textContent = LABELS[mine];
  items.forEach(function (item) {
    item.setAttribute("aria-checked", item.getAttribute("data-status") === mine ? "true" : "false");
  });
  var banner = $("offline-banner");
  if (banner) banner.hidden = mine !== "offline";
}

/* Colleagues (not me), online first, then away, then offline, each with the chats they have open. Also
 * called whenever the lists change (lists.js), since those counts come from the chats this console holds. */
export function renderTeam() {
  var list = $("team");
  if (!list) return;
  var me = state.me ? state.me.name : null;
  var open = {};
  state.chats.forEach(function (chat) {
    if (chat.s.state === "active" && chat.s.agent) open[chat.s.agent] = (open[chat.s.agent] || 0) + 1;
  });
  var members = [];
  team.forEach(function (member) {
    if (member.name !== me) members.push(member);
  });
  members.sort(function (a, b) {
    return ORDER[known(a.status)] - ORDER[known(b.status)] || nameOf(a).localeCompare(nameOf(b));
  });
  var key = JSON.stringify(members.map(function (m) { return [m.name, nameOf(m), m.status, open[m.name] || 0]; }));
  if (key === shownTeam) return;
  shownTeam = key;
  list.replaceChildren.apply(list, members.map(function (member) { return teamItem(member, open[member.name] || 0); }));
  var empty = $("team-empty");
  if (empty) empty.hidden = members.length > 0;
  var online = members.filter(function (m) { return m.status === "online"; }).length;
  var count = $("team-count");
  if (count) {
    count.replaceChildren(String(online), visuallyHidden(" online"));
    count.classList.toggle("zero", online === 0);
  }
}

function nameOf(member) {
  return member.displayName || member.name;
}

function teamItem(member, chats) {
  var status = known(member.status);
  return el(
    "li",
    { class: "team-member " + status },
    el("span", { class: "agent-dot " + status, "aria-hidden": "true" }),
    el("span", { class: "tm-name", text: nameOf(member) }),
    chats ? el("span", { class: "tm-chats", text: chats + (chats === 1 ? " chat" : " chats") }) : null,
    el("span", { class: "tm-status", text: LABELS[status] })
  );
}

/* The team as the server last said, online first then by name: for choosing a colleague (transfer.js). */
export function teamMembers() {
  var members = Array.from(team.values());
  members.sort(function (a, b) {
    return ORDER[known(a.status)] - ORDER[known(b.status)] || nameOf(a).localeCompare(nameOf(b));
  });
  return members;
}
