/* Canned responses: the list (the shared ones and my own, GET /agent/canned), their placeholders, and the
 * composer's picker: "/" at the start of the reply box opens a list filtered by what follows it (the
 * shortcut first, then titles and texts); Up and Down choose, Enter or Tab insert, Escape closes.
 *
 * The list is fetched when the console says hello (every connect, and after the server's bus may have
 * lost messages) and again on every `canned` frame, which the server sends to each console a change
 * concerns (widget_server/web/canned.py): so a colleague's new shared response is here within a moment,
 * and nobody's console ever holds another agent's own.
 *
 * Placeholders: {{visitor.name}}, {{visitor.email}}, {{agent.name}} (my display name), {{site.name}}.
 * One whose value is not known (a visitor who gave no email) becomes empty, and the line under the
 * composer says which; one this console does not know ({{order.id}}) stays as typed, for the agent to
 * fill in. The text goes into the reply box, never straight to the visitor. */

import { nickname, siteName } from "./chats.js";
import { el } from "./dom.js";
import { handlers } from "./handlers.js";
import { state } from "./state.js";

export var CANNED_URL = "/agent/canned";
var PLACEHOLDER = /\{\{\s*([a-z]+\.[a-z]+)\s*\}\}/g;

var data = { list: [], loaded: false, failed: false };
var listeners = [];
var inflight = null;
var again = false;

export function cannedList() {
  return data.list;
}

export function cannedState() {
  return data;
}

/* fn() after every load (the management dialog redraws itself). Returns the function that stops it. */
export function onCannedLoaded(fn) {
  listeners.push(fn);
  return function () {
    listeners = listeners.filter(function (other) { return other !== fn; });
  };
}

export function loadCanned() {
  if (inflight) {
    again = true; // a change came while the list was on its way: fetch once more after it
    return inflight;
  }
  inflight = window
    .fetch(CANNED_URL, { credentials: "same-origin", cache: "no-store" })
    .then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    })
    .then(
      function (body) {
        data.list = Array.isArray(body.responses) ? body.responses : [];
        data.loaded = true;
        data.failed = false;
      },
      function () {
        data.failed = true;
      }
    )
    .then(function () {
      inflight = null;
      listeners.slice().forEach(function (fn) { fn(); });
      if (again) {
        again = false;
        loadCanned();
      }
    });
  return inflight;
}

/* A change (POST, PUT, DELETE), with the page's CSRF token: {status, body}; body is {error, message,
 * field?} when refused. */
export function cannedRequest(method, id, body) {
  var csrf = document.querySelector('meta[name="csrf-token"]');
  return window
    .fetch(CANNED_URL + (id ? "/" + encodeURIComponent(id) : ""), {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.content : "" },
      body: body ? JSON.stringify(body) : undefined,
    })
    .then(function (response) {
      if (response.status === 204) return { status: 204, body: {} };
      return response.json().then(
        function (json) { return { status: response.status, body: json || {} }; },
        function () { return { status: response.status, body: {} }; }
      );
    })
    .catch(function () {
      return { status: 0, body: { error: "offline", message: "The server cannot be reached. Please try again." } };
    });
}

/* The values of the placeholders in this chat. */
export function placeholderValues(chat) {
  var v = (chat && chat.s.visitor) || {};
  var me = state.me || {};
  return {
    "visitor.name": chat ? nickname(chat) : "",
    "visitor.email": v.email || "",
    "agent.name": me.displayName || me.name || "",
    "site.name": chat ? siteName(chat) : "",
  };
}

/* {text, empty}: the text with the known placeholders filled in, and the names of those left empty. */
export function fill(text, values) {
  var empty = [];
  var filled = text.replace(PLACEHOLDER, function (whole, name) {
    if (!Object.prototype.hasOwnProperty.call(values, name)) return whole;
    if (!values[name]) {
      if (empty.indexOf(name) < 0) empty.push(name);
      return "";
    }
    return values[name];
  });
  return { text: filled, empty: empty };
}

/* The responses matching `query` (without its "/"), best first: shortcuts that begin with it, then those
 * that hold it, then titles, then texts. */
export function matching(query) {
  var q = query.toLowerCase();
  var ranked = [];
  data.list.forEach(function (response, index) {
    var shortcut = response.shortcut.toLowerCase();
    var rank = shortcut.indexOf(q) === 0 ? 0
      : shortcut.indexOf(q) > 0 ? 1
        : response.title.toLowerCase().indexOf(q) >= 0 ? 2
          : response.text.toLowerCase().indexOf(q) >= 0 ? 3 : -1;
    if (rank >= 0) ranked.push({ rank: rank, index: index, response: response });
  });
  ranked.sort(function (a, b) { return a.rank - b.rank || a.index - b.index; });
  return ranked.map(function (item) { return item.response; });
}

/* Put a response into the textarea: in place of [start, end) (the "/query" typed), else at the caret. */
export function insertCanned(textarea, chat, response, start, end, tell) {
  var result = fill(response.text, placeholderValues(chat));
  var from = typeof start === "number" ? start : textarea.selectionStart;
  var to = typeof end === "number" ? end : textarea.selectionEnd;
  textarea.setRangeText(result.text, from, to, "end");
  textarea.dispatchEvent(new Event("input", { bubbles: true })); // the draft, and typing for the visitor
  textarea.focus();
  if (tell) {
    tell(
      result.empty.length
        ? "Inserted /" + response.shortcut + " · left empty, not known here: " + result.empty.map(function (n) { return "{{" + n + "}}"; }).join(", ")
        : "Inserted /" + response.shortcut,
      result.empty.length > 0
    );
  }
}

/* The picker under a composer's textarea; returns its element, for pane.js to place in the composer.
 * Registered before the composer's own keys, so that Enter inserts rather than sends while it is open. */
export function attachPicker(textarea, getChat) {
  var listId = "canned-options";
  var list = el("ul", { id: listId, class: "canned-options", role: "listbox", "aria-label": "Canned responses" });
  var empty = el("p", { class: "canned-empty" });
  var status = el("p", { class: "vh", role: "status" });
  var manage = el(
    "button",
    {
      type: "button",
      class: "link small",
      onmousedown: function (event) { event.preventDefault(); },
      onclick: function () {
        close();
        handlers.openCanned();
      },
    },
    "Manage…"
  );
  var foot = el(
    "p",
    { class: "canned-foot" },
    el("span", null, el("kbd", { text: "↑" }), el("kbd", { text: "↓" }), " choose · ", el("kbd", { text: "Enter" }), " insert · ", el("kbd", { text: "Esc" }), " close"),
    manage
  );
  var box = el("div", { class: "canned-pop", hidden: true }, list, empty, foot);
  var told = el("p", { class: "canned-told", role: "status", hidden: true });
  var wrapper = el("div", { class: "canned-picker" }, box, told, status);
  var shown = []; // the responses listed now
  var active = 0;
  var closedFor = null; // the "/…" token Escape closed the list for: it stays closed until that changes
  var toldTimer = 0;

  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", listId);

  /* {query, end} while the caret is in a "/…" token at the very start of the text; else null. */
  function typed() {
    var value = textarea.value;
    if (value.charAt(0) !== "/" || textarea.selectionStart !== textarea.selectionEnd) return null;
    var end = value.search(/\s/);
    if (end < 0) end = value.length;
    if (textarea.selectionStart > end || textarea.selectionStart < 1) return null;
    return { query: value.slice(1, end), end: end };
  }

  function update() {
    var token = typed();
    if (!token || textarea.disabled) {
      closedFor = null;
      return close();
    }
    if (closedFor !== null && closedFor === token.query) return close();
    closedFor = null;
    if (!data.loaded && !data.failed) loadCanned().then(update);
    shown = matching(token.query);
    active = Math.min(active, Math.max(shown.length - 1, 0));
    render(token.query);
  }

  function render(query) {
    list.replaceChildren();
    shown.forEach(function (response, index) {
      var option = el(
        "li",
        {
          id: "canned-option-" + index,
          class: "canned-option",
          role: "option",
          "aria-selected": index === active ? "true" : "false",
          onmousedown: function (event) { event.preventDefault(); }, // the textarea keeps the focus
          onclick: function () {
            active = index;
            choose();
          },
        },
        el(
          "span",
          { class: "canned-option-head" },
          el("span", { class: "canned-shortcut", text: "/" + response.shortcut }),
          el("span", { class: "canned-option-title", text: response.title }),
          el("span", { class: "canned-tag " + response.scope, text: response.scope === "shared" ? "Shared" : "Yours" })
        ),
        el("span", { class: "canned-option-text", text: response.text.replace(/\s+/g, " ") })
      );
      list.append(option);
    });
    list.hidden = !shown.length;
    empty.hidden = shown.length > 0;
    empty.textContent = data.failed
      ? "The canned responses could not be loaded."
      : !data.loaded
        ? "Loading…"
        : data.list.length
          ? "No canned response matches /" + query + "."
          : "No canned responses yet.";
    box.hidden = false;
    if (shown.length) {
      textarea.setAttribute("aria-activedescendant", "canned-option-" + active);
      var current = list.children[active];
      if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
    } else {
      textarea.removeAttribute("aria-activedescendant");
    }
    status.textContent = shown.length ? shown.length + (shown.length === 1 ? " canned response" : " canned responses") : empty.textContent;
  }

  function close() {
    box.hidden = true;
    shown = [];
    active = 0;
    textarea.removeAttribute("aria-activedescendant");
  }

  function choose() {
    var token = typed();
    var response = shown[active];
    if (!token || !response) return;
    close();
    insertCanned(textarea, getChat(), response, 0, token.end, tell);
  }

  function tell(text, warn) {
    clearTimeout(toldTimer);
    told.textContent = text;
    told.classList.toggle("warn", !!warn);
    told.hidden = false;
    toldTimer = setTimeout(function () { told.hidden = true; }, warn ? 8000 : 2500);
  }

  textarea.addEventListener("input", update);
  textarea.addEventListener("click", update);
  textarea.addEventListener("keyup", function (event) {
    if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") update();
  });
  textarea.addEventListener("blur", close);
  textarea.addEventListener("keydown", function (event) {
    if (box.hidden || event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
    var handled = true;
    if (event.key === "ArrowDown" && shown.length) active = (active + 1) % shown.length;
    else if (event.key === "ArrowUp" && shown.length) active = (active - 1 + shown.length) % shown.length;
    else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && shown.length) {
      event.preventDefault();
      event.stopImmediatePropagation();
      choose();
      return;
    } else if (event.key === "Escape") {
      var token = typed();
      closedFor = token ? token.query : null;
      close();
    } else handled = false;
    if (!handled) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (!box.hidden) render(typed() ? typed().query : "");
  });
  return wrapper;
}
