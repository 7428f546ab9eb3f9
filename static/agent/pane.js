/* The chat pane on the right: built anew (state.ui) for each chat selected, with its header and actions
 * (Accept, End chat; for a supervisor in a colleague's chat, Join silently and Take over), notice bar,
 * transcript, composer and details; or the empty pane when none is. */

import { attachPicker } from "./canned.js";
import { agentName, capitalise, isMessage, isMineActive, isWatching, nickname, supervises } from "./chats.js";
import { MAX_TEXT } from "./config.js";
import { $, el, icon } from "./dom.js";
import { handlers } from "./handlers.js";
import { renderEmptyHint } from "./indicators.js";
import { modeSwitch, renderNoteComposer } from "./notes.js";
import { renderMessagePane } from "./offline-message.js";
import { state } from "./state.js";
import { duration, fullDate, parseTime, shortDateTime, timeEl } from "./time.js";
import { atBottom, rating, renderPending, renderTranscript, renderTyping, scrollToBottom } from "./transcript.js";
import { transferButton } from "./transfer.js";
import { onComposerBlur, onComposerInput, stopTyping } from "./typing.js";
import { renderDetails } from "./visitor-details.js";
import { verifiedBadge } from "./verified.js";

var endConfirmTimer = 0;

export function renderPane() {
  var pane = $("chat");
  if (!pane) return;
  if (state.ui.observer) state.ui.observer.disconnect();
  // The same chat drawn again (its state changed, the console reloaded): whoever was typing keeps typing.
  var wasTyping = !!state.ui.textarea && document.activeElement === state.ui.textarea ? state.ui.chatId : null;
  state.ui = {};
  // The handlers below read state.ui when they run, as every other function does, not this pane's copy.
  var ui = state.ui;
  var me = state.me;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat) {
    ui.emptyHint = el("p", { class: "muted" });
    pane.replaceChildren(
      el(
        "div",
        { class: "pane-empty" },
        icon("inbox", 40),
        el("h2", { text: me ? "Hello, " + (me.displayName || me.name) : "Agent console" }),
        ui.emptyHint,
        el(
          "p",
          { class: "pane-empty-tools" },
          el("button", { type: "button", class: "btn ghost small", onclick: function () { handlers.openCanned(); } }, icon("bolt", 14), "Canned responses"),
          el("button", { type: "button", class: "btn ghost small", onclick: function () { handlers.showShortcuts(); } }, icon("keyboard", 16), "Keyboard shortcuts")
        )
      )
    );
    renderEmptyHint();
    return;
  }
  if (isMessage(chat)) {
    renderMessagePane(pane, chat);
    return;
  }

  ui.title = el("h2", { id: "chat-title", class: "chat-title" });
  ui.subject = el("p", { class: "chat-subject" });
  ui.meta = el("p", { class: "chat-meta" });
  ui.rating = el("p", { class: "chat-rating", hidden: true });
  ui.actions = el("div", { class: "chat-actions" });
  ui.detailsToggle = el(
    "button",
    {
      type: "button",
      class: "btn ghost details-toggle",
      "aria-expanded": "false",
      "aria-controls": "chat-details",
      onclick: function () {
        var open = state.ui.detailsToggle.getAttribute("aria-expanded") !== "true";
        state.ui.detailsToggle.setAttribute("aria-expanded", open ? "true" : "false");
        state.ui.details.classList.toggle("open", open);
      },
    },
    icon("info"),
    "Details"
  );
  var head = el(
    "header",
    { class: "chat-head" },
    el("div", { class: "chat-who" }, ui.title, ui.subject, ui.meta, ui.rating),
    el("div", { class: "chat-tools" }, ui.detailsToggle, ui.actions)
  );

  ui.notice = el("div", { class: "notice", role: "status", hidden: true });

  ui.transcript = el("ol", { class: "transcript" });
  // The live region is the scrolling box around the list: a role on the <ol> itself would take away
  // its list semantics, and the box is what a keyboard user scrolls.
  ui.scroller = el(
    "div",
    {
      class: "transcript-scroll",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Transcript",
      tabindex: "0",
    },
    ui.transcript
  );
  // Stay pinned to the newest line while the agent is there, whatever changes size (a longer
  // draft, a notice, the window); leave the scroll alone while they read further up.
  ui.stuck = true;
  ui.scroller.addEventListener("scroll", function () {
    state.ui.stuck = atBottom();
    if (state.ui.stuck) state.ui.jump.hidden = true;
  });
  if (window.ResizeObserver) {
    var keepPinned = new ResizeObserver(function () {
      if (state.ui.stuck && state.ui.scroller) state.ui.scroller.scrollTop = state.ui.scroller.scrollHeight;
    });
    keepPinned.observe(ui.scroller);
    keepPinned.observe(ui.transcript);
    ui.observer = keepPinned;
  }
  ui.jump = el(
    "button",
    { type: "button", class: "jump", hidden: true, onclick: function () { scrollToBottom(true); } },
    icon("down", 14),
    "New messages"
  );
  ui.typing = el("p", { class: "typing-line", "aria-live": "polite" });

  ui.textarea = el("textarea", {
    id: "reply",
    name: "reply",
    rows: "2",
    maxlength: String(MAX_TEXT),
    autocomplete: "off",
    "aria-describedby": "composer-hint",
  });
  ui.textarea.addEventListener("input", onComposerInput);
  // The canned responses' "/" list first: while it is open, Enter inserts rather than sends.
  ui.canned = attachPicker(ui.textarea, function () { return state.chats.get(chat.id); });
  ui.textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !event.isComposing) {
      event.preventDefault();
      handlers.sendReply();
    }
  });
  ui.textarea.addEventListener("blur", onComposerBlur);
  ui.send = el("button", { type: "submit", class: "btn primary send" }, icon("send"), "Send");
  ui.picker = el("input", {
    type: "file",
    multiple: true,
    hidden: true,
    tabindex: "-1",
    "aria-label": "Choose files to send",
    onchange: function () {
      var files = Array.prototype.slice.call(state.ui.picker.files);
      state.ui.picker.value = ""; // the same file may be chosen again
      files.forEach(function (file) { handlers.sendFile(chat, file); });
    },
  });
  ui.attach = el(
    "button",
    { type: "button", class: "btn ghost attach", "aria-label": "Attach a file", title: "Attach a file", onclick: function () { state.ui.picker.click(); } },
    icon("clip", 18)
  );
  ui.hint = el("p", { id: "composer-hint", class: "composer-hint" });
  // Above the box: Reply | Note (notes.js), and the canned responses and shortcuts at hand.
  ui.noteBadge = el("span", { class: "note-badge", hidden: true }, icon("lock", 13), "Only your team sees notes");
  ui.textareaLabel = el("label", { for: "reply", class: "vh", text: "Reply" });
  var composerHead = el(
    "div",
    { class: "composer-head" },
    modeSwitch(chat, function (mode) { setComposeMode(chat, mode); }),
    ui.noteBadge,
    el("span", { class: "spacer" }),
    el(
      "button",
      { type: "button", class: "btn ghost small composer-tool", onclick: function () { handlers.openCanned(); } },
      icon("bolt", 14),
      "Canned responses"
    ),
    el(
      "button",
      { type: "button", class: "btn ghost small composer-tool", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", onclick: function () { handlers.showShortcuts(); } },
      icon("keyboard", 16)
    )
  );
  ui.composer = el(
    "form",
    {
      class: "composer",
      "aria-label": "Reply to the visitor",
      onsubmit: function (event) {
        event.preventDefault();
        handlers.sendReply();
      },
    },
    composerHead,
    ui.textareaLabel,
    ui.canned,
    el("div", { class: "composer-row" }, ui.textarea, ui.picker, ui.attach, ui.send),
    ui.hint
  );

  ui.details = el("aside", { id: "chat-details", class: "details", "aria-label": "Visitor details" });
  ui.details.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !state.ui.details.classList.contains("open")) return;
    state.ui.details.classList.remove("open");
    state.ui.detailsToggle.setAttribute("aria-expanded", "false");
    state.ui.detailsToggle.focus();
  });

  var conversation = el("section", { class: "conversation", "aria-labelledby": "chat-title" }, ui.scroller, ui.jump, ui.typing, ui.composer);
  acceptDroppedFiles(conversation, chat);
  pane.replaceChildren(head, ui.notice, el("div", { class: "chat-body" }, conversation, ui.details));

  ui.textarea.value = chat.draft || "";
  renderPaneHeader();
  renderHeaderActions();
  renderNotice();
  renderDetails();
  renderTranscript();
  renderTyping();
  renderComposerState();
  scrollToBottom(true);
  ui.chatId = chat.id;
  if (wasTyping === chat.id && !ui.textarea.disabled) ui.textarea.focus();
}

/* Files dropped on the conversation of a chat of mine are sent; dragging them over it outlines it. */
function acceptDroppedFiles(area, chat) {
  var timer = 0;
  function carriesFiles(event) {
    return isMineActive(chat) && event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0;
  }
  area.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    area.classList.add("dropping");
    clearTimeout(timer);
    timer = setTimeout(function () { area.classList.remove("dropping"); }, 150); // dragleave fires per child
  });
  area.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    area.classList.remove("dropping");
    Array.prototype.forEach.call(event.dataTransfer.files, function (file) { handlers.sendFile(chat, file); });
  });
}

function stateLabel(chat) {
  var s = chat.s;
  if (s.state === "queued") return ["Waiting", "queued"];
  if (s.state === "ended") return ["Ended", "ended"];
  if (isMineActive(chat)) return ["Active", "active"];
  if (isWatching(chat)) return ["Watching silently · with " + agentName(chat), "watching"];
  return ["With " + agentName(chat), "others"];
}

export function renderPaneHeader() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.title) return;
  var s = chat.s;
  var online = !!s.online && s.state !== "ended";
  var label = stateLabel(chat);
  ui.title.replaceChildren(
    el("span", { class: "dot " + (online ? "online" : "away"), title: online ? "Online" : "Away" }),
    el("span", { class: "chat-name", text: nickname(chat) }),
    verifiedBadge(s.visitor) || "", // replaceChildren would write a null as "null"
    el("span", { class: "pill " + label[1], text: label[0] })
  );
  var subject = s.visitor && s.visitor.subject;
  ui.subject.textContent = subject || "No subject";
  ui.subject.classList.toggle("none", !subject);
  ui.since = el("span", { class: "since" });
  ui.meta.replaceChildren(
    el("span", { text: online ? "Online" : s.state === "ended" ? "Offline" : "Away" }),
    el("span", { class: "sep", "aria-hidden": "true", text: "·" }),
    ui.since
  );
  ui.rating.hidden = !s.rating;
  ui.rating.replaceChildren(s.rating ? rating(s.rating, s.comment) : "");
  renderSince();
}

export function renderSince() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.since) return;
  var s = chat.s;
  var created = parseTime(s.createdAt);
  var node = ui.since;
  if (s.state === "queued") {
    node.replaceChildren("Waiting ", el("time", { datetime: new Date(created).toISOString(), title: fullDate(created), text: duration(Date.now() - created) }));
  } else if (s.state === "ended" && s.endedAt) {
    var ended = parseTime(s.endedAt);
    node.replaceChildren("Ended ", timeEl(ended, shortDateTime(ended)), " · lasted " + duration(ended - created));
  } else {
    node.replaceChildren("Started ", timeEl(created, shortDateTime(created)));
  }
}

export function renderHeaderActions() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.actions) return;
  clearTimeout(endConfirmTimer);
  ui.actions.replaceChildren();
  if (chat.s.state === "queued") {
    var acceptButton = el(
      "button",
      { type: "button", class: "btn primary", onclick: function () { handlers.accept(chat); } },
      chat.accepting ? "Accepting…" : "Accept"
    );
    acceptButton.disabled = !state.socketOpen || chat.accepting;
    ui.actions.append(acceptButton);
  } else if (isMineActive(chat)) {
    var endButton = confirmButton("btn danger-ghost", ["End chat", "Click again to end", "Ending…"], function () {
      handlers.endChat(chat);
    });
    ui.actions.append(transferButton(chat), endButton);
  } else if (chat.s.state === "active" && supervises()) {
    // A colleague's chat: follow it without the visitor knowing, or make it mine (the visitor sees the
    // agent leave and me join). Taking over asks once more, as ending does.
    if (!isWatching(chat)) {
      var join = el("button", { type: "button", class: "btn ghost", onclick: function () { handlers.join(chat); } }, icon("eye", 16), "Join silently");
      join.disabled = !state.socketOpen;
      ui.actions.append(join);
    }
    var takeOver = confirmButton("btn primary", ["Take over", "Click again to take over", "Taking over…"], function () {
      handlers.takeOver(chat);
    });
    ui.actions.append(transferButton(chat), takeOver);
  }
}

/* A button that acts on its second click within four seconds (`labels`: as it is, asking, working). */
function confirmButton(className, labels, act) {
  var button = el("button", { type: "button", class: className }, labels[0]);
  button.disabled = !state.socketOpen;
  button.addEventListener("click", function () {
    if (button.getAttribute("data-confirm") === "yes") {
      clearTimeout(endConfirmTimer);
      button.disabled = true;
      button.textContent = labels[2];
      act();
      return;
    }
    button.setAttribute("data-confirm", "yes");
    button.classList.add("confirm");
    button.textContent = labels[1];
    endConfirmTimer = setTimeout(function () {
      button.removeAttribute("data-confirm");
      button.classList.remove("confirm");
      button.textContent = labels[0];
    }, 4000);
  });
  return button;
}

export function renderNotice() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.notice) return;
  if (!chat.notice) {
    ui.notice.hidden = true;
    ui.notice.replaceChildren();
    return;
  }
  ui.notice.hidden = false;
  ui.notice.className = "notice " + chat.notice.kind;
  ui.notice.replaceChildren(
    el("span", { class: "notice-text", text: chat.notice.text }),
    el(
      "button",
      {
        type: "button",
        class: "icon-button",
        "aria-label": "Dismiss",
        title: "Dismiss",
        onclick: function () {
          chat.notice = null;
          renderNotice();
        },
      },
      icon("close", 14)
    )
  );
}

export function renderComposerState() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.textarea) return;
  var mine = isMineActive(chat);
  if (renderNoteComposer(ui, chat)) {
    renderPending(chat);
    return;
  }
  ui.textarea.disabled = !mine;
  ui.send.disabled = !mine;
  ui.attach.hidden = !mine; // files only in my own active chats
  ui.composer.classList.toggle("disabled", !mine);
  var hint;
  if (mine) {
    ui.textarea.placeholder = "Reply to " + nickname(chat) + "…";
    hint = state.socketOpen
      ? "Enter to send · Shift+Enter for a new line"
      : "Offline: replies are sent when the connection is back.";
  } else if (chat.s.state === "queued") {
    ui.textarea.placeholder = "Accept the chat to reply.";
    hint = "Accept this chat to reply to " + nickname(chat) + ".";
  } else if (chat.s.state === "ended") {
    ui.textarea.placeholder = "This chat has ended.";
    hint = "This chat has ended.";
  } else {
    hint = capitalise(agentName(chat)) + " is handling this chat.";
    if (isWatching(chat)) hint += " You are watching silently: switch to Note to write to " + agentName(chat) + ".";
    ui.textarea.placeholder = capitalise(agentName(chat)) + " is handling this chat.";
  }
  ui.hint.textContent = hint;
  renderPending(chat);
}

/* Reply or note, for this chat's composer (a note: no typing indicator for the visitor). The text typed
 * stays: "this should be a note" is one click. The focus stays where it is (on the switch, for arrow keys). */
export function setComposeMode(chat, mode) {
  chat.composeMode = mode === "note" ? "note" : "reply";
  if (chat.composeMode === "note") stopTyping();
  if (chat.id === state.selectedId) renderComposerState();
}
