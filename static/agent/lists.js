/* The four lists on the left (Waiting, My chats, Messages, Others): which chat goes where, in what order,
 * and each item's lines; items are kept and moved, not rebuilt, so keyboard focus survives an update. */

import { agentName, listOf, messageUnread, nickname } from "./chats.js";
import { LONG_WAIT, MAX_ENDED_SHOWN } from "./config.js";
import { $, el, visuallyHidden } from "./dom.js";
import { handlers } from "./handlers.js";
import { state } from "./state.js";
import { renderTeam } from "./status.js";
import { duration, hhmm, parseTime, shortDateTime, timeEl } from "./time.js";
import { verifiedBadge } from "./verified.js";

export function sortedChats(list) {
  var result = [];
  state.chats.forEach(function (chat) {
    if (listOf(chat) === list) result.push(chat);
  });
  if (list === "messages") {
    result.sort(function (a, b) { return parseTime(b.s.createdAt) - parseTime(a.s.createdAt); }); // newest first
  } else if (list === "others") {
    result.sort(function (a, b) {
      var ae = a.s.state === "ended";
      var be = b.s.state === "ended";
      if (ae !== be) return ae ? 1 : -1;
      if (ae) return parseTime(b.s.endedAt || b.s.createdAt) - parseTime(a.s.endedAt || a.s.createdAt);
      return parseTime(a.s.createdAt) - parseTime(b.s.createdAt);
    });
    var shown = 0;
    result = result.filter(function (chat) {
      if (chat.s.state !== "ended" || chat.id === state.selectedId) return true;
      shown += 1;
      return shown <= MAX_ENDED_SHOWN;
    });
  } else {
    result.sort(function (a, b) { return parseTime(a.s.createdAt) - parseTime(b.s.createdAt); });
  }
  return result;
}

export function renderLists() {
  var focused = document.activeElement;
  var focusedId = focused && focused.classList && focused.classList.contains("chat-item")
    ? focused.getAttribute("data-chat")
    : null;
  var placed = new Set();
  ["queue", "mine", "messages", "others"].forEach(function (list) {
    var ul = $(list);
    if (!ul) return;
    var items = sortedChats(list);
    var cursor = ul.firstElementChild;
    items.forEach(function (chat) {
      updateItem(chat);
      placed.add(chat.id);
      if (chat.li === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        ul.insertBefore(chat.li, cursor);
      }
    });
    while (cursor) {
      var next = cursor.nextElementSibling;
      ul.removeChild(cursor);
      cursor = next;
    }
    var empty = $(list + "-empty");
    if (empty) empty.hidden = items.length > 0;
  });
  state.chats.forEach(function (chat) {
    if (!placed.has(chat.id) && chat.li && chat.li.parentNode) chat.li.parentNode.removeChild(chat.li);
  });
  if (focusedId && document.activeElement !== focused) {
    var chat = state.chats.get(focusedId);
    if (chat && chat.button && chat.li.parentNode) chat.button.focus();
  }
  renderTeam(); // its open chats come from the same chats
}

export function updateItem(chat) {
  var me = state.me;
  if (!chat.li) {
    chat.button = el("button", {
      type: "button",
      class: "chat-item",
      "data-chat": chat.id,
      onclick: function () { handlers.select(chat.id); },
    });
    chat.li = el("li", null, chat.button);
  }
  var s = chat.s;
  var list = listOf(chat);
  var button = chat.button;
  if (list === "messages") {
    updateMessageItem(chat);
    return;
  }
  button.classList.toggle("ended", s.state === "ended");
  button.classList.toggle("flash", chat.flashUntil > Date.now());
  button.classList.toggle("has-unread", chat.unread > 0 && s.state !== "ended");
  if (chat.id === state.selectedId) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");

  var online = !!s.online && s.state !== "ended";
  var dot = el(
    "span",
    { class: "dot " + (online ? "online" : "away"), title: online ? "Online" : "Away" },
    visuallyHidden(online ? "online" : "away")
  );
  chat.timeNode = el("span", { class: "ci-time" }, itemTimeText(chat));
  markLongWait(chat);
  var name = el("span", { class: "ci-name", text: nickname(chat) });
  var top = el("span", { class: "ci-top" }, dot, name, verifiedBadge(s.visitor, true), chat.timeNode);

  var subject = s.visitor && s.visitor.subject;
  var second = el("span", { class: "ci-subject" + (subject ? "" : " none") }, subject || "No subject");

  var third;
  if (chat.typing && s.state !== "ended") {
    third = el("span", { class: "ci-preview typing", text: "typing…" });
  } else if (list === "others") {
    var line = s.state === "ended"
      ? "Ended" + (s.endedAt ? " " + shortDateTime(parseTime(s.endedAt)) : "") + (s.agent ? " · " + agentName(chat) : "")
      : "With " + agentName(chat);
    if (s.rating) line += " · Rated " + (s.rating === "good" ? "good" : "bad");
    third = el("span", { class: "ci-preview" }, line);
  } else if (chat.preview) {
    var prefix = chat.preview.from === "agent" ? (chat.preview.name === (me && me.displayName) ? "You: " : chat.preview.name + ": ") : "";
    third = el("span", { class: "ci-preview" }, prefix + chat.preview.text.replace(/\s+/g, " "));
  } else {
    third = el("span", { class: "ci-preview none", text: chat.events ? "No messages yet" : "…" });
  }
  var bottom = el("span", { class: "ci-bottom" }, third);
  if (chat.unread > 0 && s.state !== "ended" && list !== "others") {
    bottom.append(
      el("span", { class: "unread" }, String(chat.unread), visuallyHidden(chat.unread === 1 ? " unread message" : " unread messages"))
    );
  }
  button.replaceChildren(top, second, bottom);
}

/* An offline message in its list: who, when, their email and the start of the text; bold while unread. */
function updateMessageItem(chat) {
  var s = chat.s;
  var v = s.visitor || {};
  var unread = messageUnread(chat);
  var button = chat.button;
  button.classList.toggle("flash", chat.flashUntil > Date.now());
  button.classList.toggle("has-unread", unread);
  button.classList.remove("ended");
  if (chat.id === state.selectedId) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
  var created = parseTime(s.createdAt);
  chat.timeNode = el("span", { class: "ci-time" }, timeEl(created, shortDateTime(created)));
  var text = (s.lastMessage && s.lastMessage.text) || (chat.preview && chat.preview.text) || "";
  button.replaceChildren(
    el(
      "span",
      { class: "ci-top" },
      el("span", { class: "dot " + (unread ? "new" : "read") }, visuallyHidden(unread ? "unread" : "read")),
      el("span", { class: "ci-name", text: nickname(chat) }),
      chat.timeNode
    ),
    el("span", { class: "ci-subject" + (v.email ? "" : " none") }, v.email || "No email"),
    el("span", { class: "ci-bottom" }, el("span", { class: "ci-preview" }, text.replace(/\s+/g, " ")))
  );
}

function itemTimeText(chat) {
  var s = chat.s;
  if (s.state === "queued") {
    var waited = Date.now() - parseTime(s.createdAt);
    return waited < 5000 ? "now" : duration(waited);
  }
  if (s.state === "ended") return "";
  if (chat.preview) return hhmm(chat.preview.at);
  return hhmm(parseTime(s.createdAt));
}

function markLongWait(chat) {
  var long = chat.s.state === "queued" && Date.now() - parseTime(chat.s.createdAt) >= LONG_WAIT;
  chat.timeNode.classList.toggle("long", long);
  chat.timeNode.title = long ? "Waiting for a long time" : "";
}

/* The clock moved: waiting times grow, a new chat's highlight ends. */
export function tickLists() {
  var now = Date.now();
  state.chats.forEach(function (chat) {
    if (chat.timeNode && chat.s.state === "queued") {
      chat.timeNode.textContent = itemTimeText(chat);
      markLongWait(chat);
    }
    if (chat.button && chat.button.classList.contains("flash") && chat.flashUntil <= now) {
      chat.button.classList.remove("flash");
    }
  });
}

/* Up and Down move between chats across the three lists; Home and End to the first and last. */
export function onListKey(event) {
  var target = event.target;
  if (!target.classList || !target.classList.contains("chat-item")) return;
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".lists .chat-item"));
  var index = buttons.indexOf(target);
  var next = null;
  if (event.key === "ArrowDown") next = buttons[index + 1];
  else if (event.key === "ArrowUp") next = buttons[index - 1];
  else if (event.key === "Home") next = buttons[0];
  else if (event.key === "End") next = buttons[buttons.length - 1];
  else return;
  event.preventDefault();
  if (next) next.focus();
}
