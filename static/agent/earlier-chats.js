/* The visitor's earlier chats, in the details panel beside the open chat: those the same browser started
 * on the site (the widget keeps a visitor token; for a verified visitor: those the same verified visitor
 * started, on any device), and those with the same email, newest first, each with
 * its date, state, agent and first message. The server answers `earlier {chat}` (widget_server/web/
 * agent.py); the list is asked for when the chat is opened, and again when opened a minute later. A click
 * opens one read-only in a dialog, its transcript loaded by `history` like any chat's, notes included. */

import { openDialog } from "./dialog.js";
import { el, icon } from "./dom.js";
import { requestId } from "./requests.js";
import { state } from "./state.js";
import { parseTime, shortDateTime, timeEl } from "./time.js";
import { renderEventsInto } from "./transcript.js";
import { verifiedBadge, verifiedOf } from "./verified.js";
import { send } from "./wire.js";

var FRESH_FOR = 60000;
var found = new Map(); // chat id -> {chats, more, at, loading, failed}
var viewing = null; // {chat, list, dialog}: the earlier chat open in the dialog, while its history loads

/* The details panel's section for this chat (visitor-details.js places it). */
export function earlierSection(chat) {
  var known = found.get(chat.id);
  if (state.socketOpen && (!known || (!known.loading && Date.now() - known.at > FRESH_FOR))) {
    known = { chats: known ? known.chats : null, more: known ? known.more : false, at: Date.now(), loading: true };
    found.set(chat.id, known);
    send({ type: "earlier", chat: chat.id, id: requestId(chat.id, "earlier") });
  }
  var section = el("section", { class: "earlier", "aria-labelledby": "earlier-heading", "data-chat": chat.id });
  fillSection(section, known);
  return section;
}

function fillSection(section, known) {
  var chats = known && known.chats;
  var heading = el("h3", { id: "earlier-heading" }, "Earlier chats");
  if (chats && chats.length) heading.append(" ", el("span", { class: "count", text: String(chats.length) + (known.more ? "+" : "") }));
  section.replaceChildren(heading);
  if (!chats) {
    section.append(el("p", { class: "none", text: known && known.failed ? "They could not be loaded." : "Loading…" }));
    return;
  }
  if (!chats.length) {
    var chat = state.chats.get(section.getAttribute("data-chat"));
    var verified = chat && verifiedOf(chat.s.visitor);
    section.append(el("p", { class: "none", text: verified ? "None from this visitor, this browser or email." : "None from this browser or email." }));
    return;
  }
  var list = el("ul", { class: "earlier-list", "aria-labelledby": "earlier-heading" });
  chats.forEach(function (summary) { list.append(el("li", null, item(summary))); });
  section.append(list);
  if (known.more) section.append(el("p", { class: "none", text: "The " + chats.length + " most recent are shown." }));
}

function item(summary) {
  var created = parseTime(summary.createdAt);
  var first = summary.firstMessage;
  var label = stateLabel(summary);
  return el(
    "button",
    {
      type: "button",
      class: "earlier-item",
      "data-chat": summary.id,
      onclick: function () { openEarlier(summary); },
    },
    el(
      "span",
      { class: "earlier-top" },
      el("span", { class: "earlier-date" }, timeEl(created, shortDateTime(created))),
      verifiedBadge(summary.visitor, true),
      el("span", { class: "pill " + label[1], text: label[0] })
    ),
    el("span", { class: "earlier-agent", text: who(summary) }),
    el("span", { class: "earlier-preview" + (first ? "" : " none"), text: first ? first.text.replace(/\s+/g, " ") : "No messages" })
  );
}

function stateLabel(summary) {
  if (summary.type === "offline_msg") return ["Message", "message"];
  if (summary.state === "queued") return ["Waiting", "queued"];
  if (summary.state === "active") return ["Active", "active"];
  return ["Ended", "ended"];
}

function who(summary) {
  if (summary.type === "offline_msg") return "Left while nobody could answer";
  var me = state.me;
  if (!summary.agent) return "No agent answered";
  if (me && summary.agent === me.name) return "With you";
  return "With " + (summary.agentName || summary.agent);
}

/* The answer to `earlier`: kept, and shown if its chat is open. */
export function onEarlier(frame) {
  found.set(frame.chat, { chats: frame.chats || [], more: !!frame.more, at: Date.now(), loading: false });
  redraw(frame.chat);
}

/* `earlier` was refused (the chat is gone): say so rather than load forever. */
export function earlierFailed(chatId) {
  found.set(chatId, { chats: null, more: false, at: Date.now(), loading: false, failed: true });
  redraw(chatId);
}

function redraw(chatId) {
  var section = state.ui.details && state.ui.details.querySelector(".earlier");
  if (section && section.getAttribute("data-chat") === chatId) fillSection(section, found.get(chatId));
}

function openEarlier(summary) {
  var created = parseTime(summary.createdAt);
  var name = (summary.visitor && summary.visitor.nickname) || "Visitor";
  var list = el("ol", { class: "transcript", "aria-busy": "true" }, el("li", { class: "sys loading", text: "Loading the conversation…" }));
  var scroller = el("div", { class: "transcript-scroll earlier-transcript", tabindex: "0", role: "region", "aria-label": "Transcript, read only" }, list);
  var subtitle = el(
    "span",
    null,
    shortDateTime(created),
    " · " + stateLabel(summary)[0] + " · " + who(summary) + " · ",
    el("span", { class: "read-only" }, icon("lock", 12), "Read only")
  );
  var dialog = openDialog({
    id: "earlier-dialog",
    title: name + (summary.visitor && summary.visitor.subject ? ": " + summary.visitor.subject : ""),
    subtitle: subtitle,
    className: "earlier-dialog",
    body: el("div", { class: "dialog-body earlier-body" }, scroller),
    focus: scroller,
    onClose: function () { viewing = null; },
    // The panel may have been drawn again meanwhile: back to this chat's button as it is now.
    returnFocus: function () {
      var buttons = state.ui.details ? state.ui.details.querySelectorAll(".earlier-item") : [];
      return Array.prototype.filter.call(buttons, function (b) { return b.getAttribute("data-chat") === summary.id; })[0];
    },
  });
  viewing = { chat: summary.id, list: list, scroller: scroller, dialog: dialog };
  if (!send({ type: "history", chat: summary.id, after: 0, id: requestId(summary.id, "earlier-history") })) {
    list.replaceChildren(el("li", { class: "sys placeholder", text: "Offline: reconnecting…" }));
  }
}

/* A `history` answer: drawn in the dialog if it is the earlier chat open there. Returns true when the
 * console has no other use for it (the chat is in none of its lists): frames.js then leaves it alone. */
export function takeEarlierHistory(frame) {
  if (!viewing || viewing.chat !== frame.chat) return false;
  renderEventsInto(viewing.list, frame.events || []);
  viewing.list.removeAttribute("aria-busy");
  viewing.scroller.scrollTop = 0;
  return !state.chats.has(frame.chat);
}
