/* The agent console: lists of chats, one chat's transcript and composer, over /agent/ws.
 *
 * Plain JavaScript, no build step, no dependency. The page's CSP allows only this file and
 * console.css, so nothing here uses inline styles or inline handlers.
 *
 * Everything a visitor (or another agent) wrote is text: it reaches the DOM through textContent,
 * createTextNode or Node.append(string), never innerHTML. Links are built with createElement, and
 * only for http(s) URLs.
 *
 * Files go up over HTTP (POST /agent/attachments/CHAT, with the session's CSRF token from the page's
 * <meta name="csrf-token">, widget_server/web/attachments.py) and come back, like everything else, as
 * `attachment` events whose file URL is a same-origin download.
 *
 * The protocol is described in widget_server/web/agent.py. The rule that keeps transcripts exact:
 * for every chat whose transcript is loaded we keep the last seq we have; an event with seq == last+1
 * is appended, seq <= last is a repeat and ignored, anything further ahead means we missed something
 * and we ask for `history {chat, after: last}`.
 */
(function () {
  "use strict";

  var PING_EVERY = 25000; // keepalive
  var PONG_WITHIN = 10000; // no answer to a ping: the connection is dead, reconnect
  var BACKOFF_FIRST = 1000;
  var BACKOFF_MAX = 30000;
  var TYPING_REPEAT = 3000; // send typing:true at most this often
  var TYPING_IDLE = 4000; // typing:false after this long without a keystroke
  var VISITOR_TYPING_TTL = 10000; // hide "is typing" without an update for this long
  var CLOCK_EVERY = 5000; // waiting times
  var FLASH_FOR = 4000; // highlight of a new waiting chat
  var LONG_WAIT = 3 * 60000; // a waiting time shown as urgent
  var PRELOAD_QUEUE = 50; // transcripts loaded up front for the oldest waiting chats
  var MAX_TEXT = 4000;
  var MAX_ENDED_SHOWN = 30;
  var MAX_MESSAGES_SHOWN = 100; // offline messages kept in the Messages list
  var LOGIN_URL = "/agent/login?next=/agent";
  var FILE_URL = "/agent/attachments/"; // uploads go to FILE_URL + chat; downloads are below it
  var THUMBNAIL_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

  var ERROR_TEXT = {
    taken: "Another agent has already accepted this chat.",
    chat_ended: "This chat has ended.",
    not_yours: null, // the server's sentence says it best
    rate_limited: "Slow down a little: too many actions at once.",
    not_found: "This chat no longer exists.",
    internal_error: "Something went wrong on the server; please try again.",
  };

  // --- state ---------------------------------------------------------------------------------------

  var me = null; // {name, displayName, role}
  var sites = {};
  var chats = new Map(); // id -> chat record (see makeChat)
  var selectedId = null;
  var requests = new Map(); // request id -> {chat, kind, clientId?}
  var requestCounter = 0;
  var helloCount = 0;
  var baseTitle = document.title.split(" · ")[0] || "Agent console";

  var socket = null;
  var socketOpen = false;
  var backoff = BACKOFF_FIRST;
  var reconnectTimer = 0;
  var pingTimer = 0;
  var pongTimer = 0;

  var typingOut = { chat: null, active: false, lastSent: 0, idleTimer: 0 };

  // --- DOM helpers ---------------------------------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  /* el("p", {class: "x", text: "..."}, child, "text child", ...). Attribute names are always
   * constants of this file; values from visitors only ever go through `text` or text children. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.append(child); // strings become text nodes
    }
    return node;
  }

  function svg(name, paths, size) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    node.setAttribute("viewBox", "0 0 24 24");
    node.setAttribute("width", String(size || 16));
    node.setAttribute("height", String(size || 16));
    node.setAttribute("aria-hidden", "true");
    node.setAttribute("focusable", "false");
    node.setAttribute("class", "icon icon-" + name);
    paths.forEach(function (d) {
      var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", d);
      node.appendChild(path);
    });
    return node;
  }

  var ICONS = {
    chat: ["M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 4v-4h0A2.5 2.5 0 0 1 4 13.5z"],
    send: ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"],
    close: ["M6 6l12 12M18 6L6 18"],
    info: ["M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z", "M12 11v6M12 7.5v.5"],
    down: ["M12 5v14M6 13l6 6 6-6"],
    inbox: ["M4 13l2.5-7.5h11L20 13v5.5H4z", "M4 13h5l1 2h4l1-2h5"],
    clip: ["m21.4 11-9.2 9.3a6 6 0 0 1-8.5-8.5l8.6-8.6A4 4 0 1 1 18 8.8l-8.6 8.6a2 2 0 0 1-2.8-2.8l8.5-8.5"],
    file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5"],
    thumb: [
      "M7 10v12",
      "M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 8a2 2 0 0 1-1.9 1.4H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h2.8a2 2 0 0 0 1.8-1.1L12 2a3.1 3.1 0 0 1 3 3.9z",
    ],
  };

  function icon(name, size) {
    return svg(name, ICONS[name], size);
  }

  function visuallyHidden(text) {
    return el("span", { class: "vh", text: text });
  }

  /* Only http and https become links; anything else (javascript:, data:, relative) stays text. */
  function safeUrl(raw) {
    if (typeof raw !== "string" || !raw) return null;
    try {
      var url = new URL(raw);
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    } catch (e) {
      /* not a URL */
    }
    return null;
  }

  function externalLink(href, text) {
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: text });
  }

  /* A message's text with its http(s) URLs as links; everything else text nodes. */
  function linkify(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /\bhttps?:\/\/[^\s<>"'`]+/gi;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var candidate = match[0];
      // Trailing punctuation belongs to the sentence, not the URL; a closing bracket only if unopened.
      var trimmed = candidate.replace(/[.,;:!?'"]+$/, "");
      while (/[)\]}]$/.test(trimmed)) {
        var close = trimmed.slice(-1);
        var open = close === ")" ? "(" : close === "]" ? "[" : "{";
        if (trimmed.split(open).length >= trimmed.split(close).length) break;
        trimmed = trimmed.slice(0, -1).replace(/[.,;:!?'"]+$/, "");
      }
      var href = safeUrl(trimmed);
      if (!href) continue;
      if (match.index > last) fragment.append(text.slice(last, match.index));
      fragment.append(externalLink(href, trimmed));
      last = match.index + trimmed.length;
      pattern.lastIndex = last;
    }
    if (last < text.length) fragment.append(text.slice(last));
    return fragment;
  }

  // --- time ----------------------------------------------------------------------------------------

  function parseTime(iso) {
    var ms = Date.parse(iso);
    return isNaN(ms) ? Date.now() : ms;
  }

  function hhmm(ms) {
    var d = new Date(ms);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function fullDate(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: "full", timeStyle: "medium" });
  }

  function dayLabel(ms) {
    var d = new Date(ms);
    var today = new Date();
    var yesterday = new Date(Date.now() - 86400000);
    if (d.toDateString() === today.toDateString()) return "Today";
    if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
    return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  }

  function shortDateTime(ms) {
    var d = new Date(ms);
    if (d.toDateString() === new Date().toDateString()) return hhmm(ms);
    return d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " " + hhmm(ms);
  }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    var h = Math.floor(m / 60);
    if (h < 24) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function capitalise(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function timeEl(ms, text) {
    return el("time", { datetime: new Date(ms).toISOString(), title: fullDate(ms), text: text || hhmm(ms) });
  }

  // --- ids -----------------------------------------------------------------------------------------

  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function requestId(chatId, kind, extra) {
    requestCounter += 1;
    var id = "r" + requestCounter.toString(36) + "-" + kind;
    requests.set(id, Object.assign({ chat: chatId, kind: kind }, extra || {}));
    if (requests.size > 500) requests.delete(requests.keys().next().value);
    return id;
  }

  // --- read marks (kept across reloads, per agent) -------------------------------------------------

  var readMarks = {};

  function readKey() {
    return "widget_server.console.read." + (me ? me.name : "");
  }

  function loadReadMarks() {
    try {
      readMarks = JSON.parse(window.localStorage.getItem(readKey()) || "{}") || {};
    } catch (e) {
      readMarks = {};
    }
  }

  function saveReadMarks() {
    try {
      var kept = {};
      chats.forEach(function (chat, id) {
        if (readMarks[id]) kept[id] = readMarks[id];
      });
      readMarks = kept;
      window.localStorage.setItem(readKey(), JSON.stringify(kept));
    } catch (e) {
      /* storage unavailable: unread counts just start over on reload */
    }
  }

  // --- chats ---------------------------------------------------------------------------------------

  function makeChat(summary) {
    return {
      id: summary.id,
      s: summary,
      events: null, // loaded transcript, or null
      lastSeq: 0, // last seq of the loaded transcript
      loading: false,
      buffered: [], // events that came while a history request was out, or ahead of a gap
      pending: [], // my replies not yet in the log: {id, text, at, acked, failed}
      uploads: [], // my files on their way: {id, name, fileId (once stored)}
      unread: 0,
      preview: null, // {from, name, text, at}
      pageUrl: null, // the latest visit event's url
      typing: null, // {name, until}
      typingTimer: 0,
      notice: null, // {text, kind}
      draft: "",
      flashUntil: 0,
      accepting: false,
      li: null,
      button: null,
      timeNode: null,
    };
  }

  /* A message left while nobody could answer (a chat of type offline_msg): read, answered by email. */
  function isMessage(chat) {
    return chat.s.type === "offline_msg";
  }

  /* Unread until an agent opens it: the server keeps that for every agent (`unread` in the summary);
     the local mark only bridges the moment until its `chat` frame comes back. */
  function messageUnread(chat) {
    return !readMarks[chat.id] && chat.s.unread !== false;
  }

  function markMessageRead(chat) {
    if (!messageUnread(chat)) return;
    readMarks[chat.id] = Math.max(1, chat.s.lastSeq || 0);
    saveReadMarks();
    send({ type: "read", chat: chat.id, id: "read-" + chat.id });
    updateItem(chat);
    updateTitle();
  }

  function listOf(chat) {
    if (isMessage(chat)) return "messages";
    if (chat.s.state === "queued") return "queue";
    if (chat.s.state === "active" && me && chat.s.agent === me.name) return "mine";
    return "others";
  }

  function isMineActive(chat) {
    return chat.s.state === "active" && me && chat.s.agent === me.name;
  }

  function wantsTranscript(chat) {
    return chat.s.state === "queued" || isMineActive(chat) || chat.id === selectedId;
  }

  function nickname(chat) {
    return (chat.s.visitor && chat.s.visitor.nickname) || "Visitor";
  }

  /* The agent's display name as the chat's `joined` event has it; the login name otherwise. */
  function agentName(chat) {
    var login = chat.s.agent;
    if (!login) return "another agent";
    if (me && login === me.name) return me.displayName || login;
    if (chat.events) {
      for (var i = chat.events.length - 1; i >= 0; i--) {
        if (chat.events[i].kind === "joined" && chat.events[i].name) return chat.events[i].name;
      }
    }
    return login;
  }

  function siteName(chat) {
    return sites[chat.s.site] || chat.s.site;
  }

  function pageUrlOf(chat) {
    return chat.pageUrl || (chat.s.visitor && chat.s.visitor.page) || null;
  }

  function isVisible() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  function markRead(chat) {
    if (!chat.events) return;
    if ((readMarks[chat.id] || 0) < chat.lastSeq || chat.unread) {
      readMarks[chat.id] = chat.lastSeq;
      chat.unread = 0;
      saveReadMarks();
      updateItem(chat);
      updateTitle();
    }
  }

  function updateSummary(chat, summary) {
    var before = chat.s;
    chat.s = summary;
    if (before.state !== summary.state || before.agent !== summary.agent) {
      chat.accepting = false;
      if (summary.state !== "queued") chat.flashUntil = 0;
    }
    return before;
  }

  // --- the wire ------------------------------------------------------------------------------------

  function send(frame) {
    if (!socket || !socketOpen) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function connect() {
    clearTimeout(reconnectTimer);
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws;
    try {
      ws = new WebSocket(scheme + window.location.host + "/agent/ws");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    var opened = false;
    setConnection(helloCount ? "reconnecting" : "connecting");
    ws.addEventListener("open", function () {
      if (socket !== ws) return;
      opened = true;
      socketOpen = true;
      startPing();
    });
    ws.addEventListener("message", function (message) {
      if (socket !== ws) return;
      clearTimeout(pongTimer);
      var frame;
      try {
        frame = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame.type === "string") receive(frame);
    });
    ws.addEventListener("close", function (event) {
      if (socket !== ws) return;
      socket = null;
      socketOpen = false;
      stopPing();
      chats.forEach(function (chat) {
        chat.loading = false;
        chat.accepting = false;
      });
      typingOut.active = false;
      renderComposerState();
      renderHeaderActions();
      if (!opened) {
        // Refused before opening: either the server is down, or our session is gone. Ask the page
        // itself: a redirect means the login page, anything else means try again later.
        checkSession().then(function (loggedIn) {
          if (loggedIn === false) window.location.assign(LOGIN_URL);
          else scheduleReconnect();
        });
      } else {
        scheduleReconnect(restartDelay(event));
      }
    });
  }

  /** A restart (close 1012) says when to come back: a random moment of the window in its reason. */
  function restartDelay(event) {
    if (event.code !== 1012) return null;
    var window_ = [1000, 5000];
    try {
      var given = JSON.parse(event.reason).retry;
      if (given[0] >= 0 && given[1] >= given[0] && given[1] <= 60000) window_ = given;
    } catch (e) {
      // no reason, or not ours: the default window
    }
    return window_[0] + Math.random() * (window_[1] - window_[0]);
  }

  function checkSession() {
    if (!window.fetch) return Promise.resolve(null);
    return window
      .fetch("/agent", { method: "GET", redirect: "manual", cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) return false;
        return response.ok ? true : null;
      })
      .catch(function () {
        return null; // the server is unreachable
      });
  }

  function scheduleReconnect(given) {
    clearTimeout(reconnectTimer);
    var delay = Math.min(backoff, BACKOFF_MAX);
    delay = delay / 2 + Math.random() * (delay / 2); // jitter: half to the full step
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    if (given != null) delay = given;
    setConnection("reconnecting");
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (socket) return;
    backoff = BACKOFF_FIRST;
    connect();
  }

  function startPing() {
    stopPing();
    pingTimer = setInterval(function () {
      if (!send({ type: "ping" })) return;
      clearTimeout(pongTimer);
      pongTimer = setTimeout(function () {
        if (socket) socket.close(); // silent network death: the close handler reconnects
      }, PONG_WITHIN);
    }, PING_EVERY);
  }

  function stopPing() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  }

  function receive(frame) {
    switch (frame.type) {
      case "hello":
        onHello(frame);
        break;
      case "chat":
        if (frame.chat && frame.chat.id) onChat(frame.chat);
        break;
      case "event":
        onEvent(frame);
        break;
      case "history":
        onHistory(frame);
        break;
      case "typing":
        onTyping(frame);
        break;
      case "presence":
        onPresence(frame);
        break;
      case "ack":
        onAck(frame);
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // pong, and anything newer than this console
    }
  }

  // --- frames --------------------------------------------------------------------------------------

  function onHello(frame) {
    var first = helloCount === 0;
    helloCount += 1;
    backoff = BACKOFF_FIRST;
    me = frame.me || me;
    sites = frame.sites || {};
    if (first) loadReadMarks();
    setConnection("connected");

    // hello replaces the lists; transcripts we hold stay and catch up from their last seq. It comes on
    // every (re)connect, and on an open socket when the server's bus may have lost messages (a resync).
    var seen = new Set();
    (frame.chats || []).forEach(function (summary) {
      if (!summary || !summary.id) return;
      seen.add(summary.id);
      var chat = chats.get(summary.id);
      if (chat) updateSummary(chat, summary);
      else chats.set(summary.id, makeChat(summary));
    });
    chats.forEach(function (chat, id) {
      if (seen.has(id)) return;
      if (id === selectedId) {
        loadHistory(chat); // still shown: refresh its summary through history
        return;
      }
      removeChat(chat);
    });

    if (first) {
      var remembered = null;
      try {
        remembered = window.sessionStorage.getItem("widget_server.console.selected");
      } catch (e) {
        /* ignore */
      }
      if (remembered && chats.has(remembered)) selectedId = remembered;
    }

    var queued = 0;
    sortedChats("queue").forEach(function (chat) {
      if (chat.events || queued++ < PRELOAD_QUEUE) loadHistory(chat);
    });
    chats.forEach(function (chat) {
      if (chat.events || isMineActive(chat) || chat.id === selectedId) loadHistory(chat);
    });

    // Replies typed while we were away: the server dedupes by client id, so resending is safe.
    chats.forEach(function (chat) {
      chat.pending.forEach(function (p) {
        if (!p.acked && !p.failed) sendSay(chat, p);
      });
    });

    renderLists();
    if (first) renderPane();
    else {
      renderPaneHeader();
      renderHeaderActions();
      renderComposerState();
      renderDetails();
    }
    updateTitle();
  }

  function onChat(summary) {
    var chat = chats.get(summary.id);
    var before = null;
    var wasAccepting = !!(chat && chat.accepting);
    if (!chat) {
      chat = makeChat(summary);
      chats.set(summary.id, chat);
      if (summary.state === "queued" || isMessage(chat)) {
        chat.flashUntil = Date.now() + FLASH_FOR;
        setTimeout(function () { updateItem(chat); }, FLASH_FOR + 50);
      }
    } else {
      before = updateSummary(chat, summary);
    }
    if (wantsTranscript(chat) && !chat.events) loadHistory(chat);

    var acceptedHere = false;
    if (chat.id === selectedId && before && before.state === "queued" && summary.state === "active") {
      if (summary.agent === (me && me.name)) acceptedHere = wasAccepting;
      else setNotice(chat, capitalise(agentName(chat)) + " accepted this chat.", "info");
    }
    if (before && summary.state === "ended" && chat.id === typingOut.chat) stopTyping();
    if (summary.state === "ended") pruneEnded();
    renderAll();
    if (acceptedHere && ui.textarea) ui.textarea.focus(); // accepted from here: ready to type
  }

  function renderAll() {
    renderLists();
    renderMessage();
    renderPaneHeader();
    renderHeaderActions();
    renderComposerState();
    renderDetails();
    renderTyping();
    updateTitle();
  }

  function onEvent(frame) {
    var chat = chats.get(frame.chat);
    if (!chat) return; // its `chat` frame follows; we load its history then
    if (frame.kind === "rating") {
      // Live, whether or not the transcript is loaded; a later rating replaces an earlier one.
      chat.s.rating = frame.rating;
      chat.s.comment = frame.comment || null;
      if (chat.id === selectedId) renderPaneHeader();
    }
    applyEvent(chat, frame);
    renderLists();
    updateTitle();
  }

  function applyEvent(chat, ev) {
    if (typeof ev.seq !== "number") return;
    if (chat.s.lastSeq === undefined || ev.seq > chat.s.lastSeq) chat.s.lastSeq = ev.seq;
    if (chat.loading) {
      // The history answer may have been read before this event was stored: keep it for then.
      chat.buffered.push(ev);
      if (!chat.events) notePreview(chat, ev);
      return;
    }
    if (!chat.events) {
      notePreview(chat, ev); // not loaded: the list still shows what happened
      return;
    }
    if (ev.seq <= chat.lastSeq) return;
    if (ev.seq !== chat.lastSeq + 1) {
      chat.buffered.push(ev);
      loadHistory(chat);
      return;
    }
    appendEvent(chat, ev);
  }

  function appendEvent(chat, ev) {
    chat.events.push(ev);
    chat.lastSeq = ev.seq;
    notePreview(chat, ev);
    if (ev.kind === "visit" && ev.url) {
      chat.pageUrl = ev.url;
      if (chat.id === selectedId) renderDetails();
    }
    var mineNow = false;
    if (ev.kind === "attachment" && ev.file) {
      chat.uploads.slice().forEach(function (upload) {
        if (upload.fileId !== ev.file.id) return;
        dropUpload(chat, upload);
        mineNow = true;
      });
    }
    if (ev.kind === "message" || ev.kind === "attachment") {
      if (ev.from === "visitor") {
        if (chat.typing) clearVisitorTyping(chat);
        var visible = chat.id === selectedId && isVisible();
        if (ev.seq > (readMarks[chat.id] || 0) && !visible) chat.unread += 1;
      }
      if (ev.from === "agent" && typeof ev.id === "string" && ev.id.slice(0, 6) === "agent:") {
        var clientId = ev.id.slice(6);
        var before = chat.pending.length;
        chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
        if (chat.pending.length !== before) {
          mineNow = true;
          removePendingDom(clientId);
        }
      }
    }
    if (chat.id === selectedId) {
      renderEvent(chat, ev, mineNow);
      if (isVisible()) markRead(chat);
    }
  }

  function notePreview(chat, ev) {
    if (ev.kind === "message" && typeof ev.text === "string") {
      chat.preview = { from: ev.from, name: ev.name, text: ev.text, at: parseTime(ev.at) };
    } else if (ev.kind === "attachment" && ev.file) {
      chat.preview = { from: ev.from, name: ev.name, text: "File: " + String(ev.file.name || ""), at: parseTime(ev.at) };
    }
  }

  function loadHistory(chat) {
    if (chat.loading || !socketOpen) return;
    chat.loading = true;
    var after = chat.events ? chat.lastSeq : 0;
    send({ type: "history", chat: chat.id, after: after, id: requestId(chat.id, "history") });
  }

  function onHistory(frame) {
    var chat = chats.get(frame.chat);
    if (!chat) {
      if (!frame.summary) return;
      chat = makeChat(frame.summary);
      chats.set(chat.id, chat);
    } else if (frame.summary) {
      updateSummary(chat, frame.summary);
    }
    chat.loading = false;
    var firstLoad = !chat.events;
    if (firstLoad) {
      chat.events = [];
      chat.lastSeq = 0;
      chat.unread = 0;
    }
    var events = (frame.events || []).concat(chat.buffered);
    chat.buffered = [];
    events.sort(function (a, b) { return a.seq - b.seq; });
    var gap = false;
    events.forEach(function (ev) {
      if (typeof ev.seq !== "number" || ev.seq <= chat.lastSeq) return;
      if (ev.seq !== chat.lastSeq + 1) {
        gap = true;
        chat.buffered.push(ev);
        return;
      }
      appendEvent(chat, ev);
    });
    if (chat.id === selectedId) {
      if (firstLoad) renderTranscript();
      if (isVisible()) markRead(chat);
    }
    if (gap) loadHistory(chat);
    renderAll();
  }

  function onTyping(frame) {
    var chat = chats.get(frame.chat);
    if (!chat) return;
    clearTimeout(chat.typingTimer);
    if (frame.active) {
      chat.typing = { name: frame.name || nickname(chat) };
      chat.typingTimer = setTimeout(function () { clearVisitorTyping(chat); }, VISITOR_TYPING_TTL);
    } else {
      chat.typing = null;
    }
    updateItem(chat);
    if (chat.id === selectedId) renderTyping();
  }

  function clearVisitorTyping(chat) {
    clearTimeout(chat.typingTimer);
    chat.typing = null;
    updateItem(chat);
    if (chat.id === selectedId) renderTyping();
  }

  function onPresence(frame) {
    var chat = chats.get(frame.chat);
    if (!chat) return;
    chat.s.online = !!frame.online;
    updateItem(chat);
    if (chat.id === selectedId) renderPaneHeader();
  }

  function onAck(frame) {
    var request = requests.get(frame.id);
    requests.delete(frame.id);
    var chat = chats.get(frame.chat || (request && request.chat));
    if (!chat) return;
    var clientId = request && request.clientId ? request.clientId : frame.id;
    chat.pending.forEach(function (p) {
      if (p.id !== clientId) return;
      p.acked = true;
      p.seq = frame.seq;
    });
    if (chat.events && typeof frame.seq === "number") {
      if (frame.seq <= chat.lastSeq) {
        // The event is already here (it normally comes just before its ack).
        chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
        removePendingDom(clientId);
      } else {
        loadHistory(chat); // it did not come through the live feed (a resend after reconnecting): fetch it
      }
    }
    if (chat.id === selectedId) renderPending(chat);
  }

  function onError(frame) {
    var request = frame.id ? requests.get(frame.id) : null;
    if (frame.id) requests.delete(frame.id);
    var text = ERROR_TEXT[frame.code] || frame.message || "Something went wrong.";
    var chat = request ? chats.get(request.chat) : null;
    if (request && chat) {
      if (request.kind === "say") {
        chat.pending.forEach(function (p) {
          if (p.id === request.clientId) p.failed = true;
        });
        if (chat.id === selectedId) renderPending(chat);
      }
      if (request.kind === "accept") chat.accepting = false;
      if (request.kind === "history") {
        chat.loading = false;
        if (!chat.events && chat.id === selectedId) {
          chat.events = [];
          renderTranscript();
        }
      }
      if (request.kind === "typing") return; // never worth a notice
      setNotice(chat, text, "error");
      renderHeaderActions();
      return;
    }
    // Not tied to a chat of ours: show it where the agent is looking.
    var shown = selectedId ? chats.get(selectedId) : null;
    if (shown) setNotice(shown, text, "error");
    else setConnectionDetail(text);
  }

  /* A console stays open all day: forget ended chats beyond the recent ones the list shows. */
  function pruneEnded() {
    var ended = [];
    var messages = [];
    chats.forEach(function (chat) {
      if (chat.s.state !== "ended" || chat.id === selectedId || chat.pending.length || chat.uploads.length) return;
      (isMessage(chat) ? messages : ended).push(chat);
    });
    [[ended, MAX_ENDED_SHOWN], [messages, MAX_MESSAGES_SHOWN]].forEach(function (group) {
      if (group[0].length <= group[1]) return;
      group[0].sort(function (a, b) {
        return parseTime(b.s.endedAt || b.s.createdAt) - parseTime(a.s.endedAt || a.s.createdAt);
      });
      group[0].slice(group[1]).forEach(removeChat);
    });
  }

  function removeChat(chat) {
    if (chat.li && chat.li.parentNode) chat.li.parentNode.removeChild(chat.li);
    clearTimeout(chat.typingTimer);
    chats.delete(chat.id);
  }

  // --- actions -------------------------------------------------------------------------------------

  function accept(chat) {
    if (!socketOpen || chat.s.state !== "queued" || chat.accepting) return;
    chat.accepting = true;
    chat.notice = null;
    send({ type: "accept", chat: chat.id, id: requestId(chat.id, "accept") });
    renderNotice();
    renderHeaderActions();
  }

  function endChat(chat) {
    if (!socketOpen) return;
    send({ type: "end", chat: chat.id, id: requestId(chat.id, "end") });
    if (chat.id === typingOut.chat) stopTyping();
  }

  function sendReply() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !isMineActive(chat) || !ui.textarea) return;
    var text = ui.textarea.value;
    if (!text.trim()) return;
    if (text.length > MAX_TEXT) {
      setNotice(chat, "A reply may be at most " + MAX_TEXT + " characters (this one has " + text.length + ").", "error");
      return;
    }
    var pending = { id: randomId(), text: text, at: Date.now(), acked: false, failed: false };
    chat.pending.push(pending);
    ui.textarea.value = "";
    chat.draft = "";
    stopTyping();
    sendSay(chat, pending);
    renderPending(chat);
    scrollToBottom(true);
    ui.textarea.focus();
  }

  function sendSay(chat, pending) {
    pending.failed = false;
    send({
      type: "say",
      chat: chat.id,
      id: pending.id,
      text: pending.text,
    });
    // Errors and acks name the client id; remember which chat it was.
    requests.set(pending.id, { chat: chat.id, kind: "say", clientId: pending.id });
  }

  /* Upload one file to a chat of mine; it shows as "Uploading…" until its `attachment` event arrives (before
   * or after the answer). A refusal (type, size, count, an ended chat) is the server's sentence in the notice. */
  function sendFile(chat, file) {
    if (!isMineActive(chat) || !window.fetch) return;
    var upload = { id: randomId(), name: file.name, fileId: null };
    chat.uploads.push(upload);
    renderPending(chat);
    if (chat.id === selectedId) scrollToBottom(true);
    var form = new FormData();
    form.append("file", file);
    form.append("id", upload.id); // the same request again stores the file once
    var csrf = document.querySelector('meta[name="csrf-token"]');
    window
      .fetch(FILE_URL + encodeURIComponent(chat.id), {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf ? csrf.content : "" },
      })
      .then(function (response) {
        return response.json().then(
          function (body) { return { ok: response.ok, body: body || {} }; },
          function () { return { ok: false, body: {} }; }
        );
      })
      .catch(function () {
        return { ok: false, body: {} };
      })
      .then(function (result) {
        if (result.ok && result.body.id) {
          upload.fileId = result.body.id;
          var here = (chat.events || []).some(function (ev) {
            return ev.kind === "attachment" && ev.file && ev.file.id === upload.fileId;
          });
          if (here) dropUpload(chat, upload); // its event came first
          return;
        }
        dropUpload(chat, upload);
        setNotice(chat, result.body.message || "The file could not be sent. Please try again.", "error");
      });
  }

  function dropUpload(chat, upload) {
    chat.uploads = chat.uploads.filter(function (u) { return u !== upload; });
    removePendingDom(upload.id);
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
      Array.prototype.forEach.call(event.dataTransfer.files, function (file) { sendFile(chat, file); });
    });
  }

  function retry(chat, clientId) {
    chat.pending.forEach(function (p) {
      if (p.id === clientId) sendSay(chat, p);
    });
    renderPending(chat);
  }

  function discard(chat, clientId) {
    chat.pending = chat.pending.filter(function (p) { return p.id !== clientId; });
    removePendingDom(clientId);
  }

  function onComposerInput() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.textarea) return;
    chat.draft = ui.textarea.value;
    if (!isMineActive(chat)) return;
    if (!ui.textarea.value.trim()) {
      stopTyping();
      return;
    }
    var now = Date.now();
    if (typingOut.chat !== chat.id) stopTyping();
    if (!typingOut.active || now - typingOut.lastSent >= TYPING_REPEAT) {
      if (send({ type: "typing", chat: chat.id, active: true, id: requestId(chat.id, "typing") })) {
        typingOut.chat = chat.id;
        typingOut.active = true;
        typingOut.lastSent = now;
      }
    }
    clearTimeout(typingOut.idleTimer);
    typingOut.idleTimer = setTimeout(stopTyping, TYPING_IDLE);
  }

  function stopTyping() {
    clearTimeout(typingOut.idleTimer);
    if (typingOut.active && typingOut.chat) {
      send({ type: "typing", chat: typingOut.chat, active: false, id: requestId(typingOut.chat, "typing") });
    }
    typingOut.active = false;
    typingOut.lastSent = 0;
  }

  function select(id) {
    if (id === selectedId) return;
    var previous = selectedId ? chats.get(selectedId) : null;
    if (previous && ui.textarea) previous.draft = ui.textarea.value;
    stopTyping();
    selectedId = id;
    try {
      window.sessionStorage.setItem("widget_server.console.selected", id || "");
    } catch (e) {
      /* ignore */
    }
    var chat = id ? chats.get(id) : null;
    if (chat && !chat.events) loadHistory(chat);
    renderPane();
    renderLists();
    if (chat && isMessage(chat)) markMessageRead(chat); // opened: read
    if (chat && isVisible()) markRead(chat);
  }

  function setNotice(chat, text, kind) {
    chat.notice = { text: text, kind: kind || "error" };
    if (chat.id === selectedId) renderNotice();
  }

  // --- the connection indicator and the title ------------------------------------------------------

  var connectionLabels = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
  };

  function setConnection(state) {
    var node = $("connection");
    if (!node) return;
    if (node.getAttribute("data-state") === state) return;
    node.setAttribute("data-state", state);
    node.textContent = connectionLabels[state] || state;
    var retryButton = $("reconnect-now");
    if (retryButton) retryButton.hidden = state !== "reconnecting";
  }

  function setConnectionDetail(text) {
    var node = $("connection");
    if (node) node.title = text;
  }

  var favicon = null;

  function updateTitle() {
    var waiting = 0;
    var unread = 0;
    chats.forEach(function (chat) {
      if (chat.s.state === "queued") waiting += 1;
      else if (isMineActive(chat)) unread += chat.unread;
    });
    var count = waiting + unread;
    renderEmptyHint();
    var title = (count ? "(" + count + ") " : "") + baseTitle;
    if (document.title !== title) document.title = title;
    var qc = $("queue-count");
    if (qc) {
      qc.textContent = String(waiting);
      qc.classList.toggle("zero", waiting === 0);
    }
    var mc = $("mine-count");
    if (mc) {
      var mine = 0;
      chats.forEach(function (chat) { if (isMineActive(chat)) mine += 1; });
      mc.textContent = String(mine);
    }
    var unreadMessages = 0;
    chats.forEach(function (chat) { if (isMessage(chat) && messageUnread(chat)) unreadMessages += 1; });
    var msgc = $("messages-count");
    if (msgc) {
      msgc.textContent = String(unreadMessages);
      msgc.classList.toggle("zero", unreadMessages === 0);
    }
    var oc = $("others-count");
    if (oc) {
      var others = 0;
      chats.forEach(function (chat) { if (listOf(chat) === "others" && chat.s.state === "active") others += 1; });
      oc.textContent = String(others);
    }
    if (!favicon) favicon = document.querySelector("link[rel~='icon']");
    if (favicon) {
      var wanted = faviconUrl(count > 0);
      if (favicon.getAttribute("href") !== wanted) favicon.setAttribute("href", wanted);
    }
  }

  function faviconUrl(alert) {
    var mark =
      "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>" +
      "<rect x='1' y='1' width='30' height='30' rx='8' fill='%234f46e5'/>" +
      "<path d='M9 10.5A2.5 2.5 0 0 1 11.5 8h9A2.5 2.5 0 0 1 23 10.5v6a2.5 2.5 0 0 1-2.5 2.5H15l-4 3.5V19h0.5' fill='none' stroke='white' stroke-width='2' stroke-linejoin='round'/>" +
      (alert ? "<circle cx='25' cy='7' r='6' fill='%23e11d48' stroke='white' stroke-width='2'/>" : "") +
      "</svg>";
    return "data:image/svg+xml," + mark;
  }

  // --- the lists -----------------------------------------------------------------------------------

  function sortedChats(list) {
    var result = [];
    chats.forEach(function (chat) {
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
        if (chat.s.state !== "ended" || chat.id === selectedId) return true;
        shown += 1;
        return shown <= MAX_ENDED_SHOWN;
      });
    } else {
      result.sort(function (a, b) { return parseTime(a.s.createdAt) - parseTime(b.s.createdAt); });
    }
    return result;
  }

  function renderLists() {
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
    chats.forEach(function (chat) {
      if (!placed.has(chat.id) && chat.li && chat.li.parentNode) chat.li.parentNode.removeChild(chat.li);
    });
    if (focusedId && document.activeElement !== focused) {
      var chat = chats.get(focusedId);
      if (chat && chat.button && chat.li.parentNode) chat.button.focus();
    }
  }

  function updateItem(chat) {
    if (!chat.li) {
      chat.button = el("button", {
        type: "button",
        class: "chat-item",
        "data-chat": chat.id,
        onclick: function () { select(chat.id); },
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
    if (chat.id === selectedId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");

    var online = !!s.online && s.state !== "ended";
    var dot = el(
      "span",
      { class: "dot " + (online ? "online" : "away"), title: online ? "Online" : "Away" },
      visuallyHidden(online ? "online" : "away")
    );
    chat.timeNode = el("span", { class: "ci-time" }, itemTimeText(chat));
    markLongWait(chat);
    var top = el("span", { class: "ci-top" }, dot, el("span", { class: "ci-name", text: nickname(chat) }), chat.timeNode);

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
    if (chat.id === selectedId) button.setAttribute("aria-current", "true");
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

  function tick() {
    var now = Date.now();
    chats.forEach(function (chat) {
      if (chat.timeNode && chat.s.state === "queued") {
        chat.timeNode.textContent = itemTimeText(chat);
        markLongWait(chat);
      }
      if (chat.button && chat.button.classList.contains("flash") && chat.flashUntil <= now) {
        chat.button.classList.remove("flash");
      }
    });
    if (ui.since) renderSince();
  }

  /* Up and Down move between chats across the three lists; Home and End to the first and last. */
  function onListKey(event) {
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

  // --- the chat pane -------------------------------------------------------------------------------

  var ui = {};

  function renderPane() {
    var pane = $("chat");
    if (!pane) return;
    if (ui.observer) ui.observer.disconnect();
    ui = {};
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat) {
      ui.emptyHint = el("p", { class: "muted" });
      pane.replaceChildren(
        el(
          "div",
          { class: "pane-empty" },
          icon("inbox", 40),
          el("h2", { text: me ? "Hello, " + (me.displayName || me.name) : "Agent console" }),
          ui.emptyHint
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
          var open = ui.detailsToggle.getAttribute("aria-expanded") !== "true";
          ui.detailsToggle.setAttribute("aria-expanded", open ? "true" : "false");
          ui.details.classList.toggle("open", open);
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

    ui.transcript = el("ol", {
      class: "transcript",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Transcript",
      tabindex: "0",
    });
    ui.scroller = el("div", { class: "transcript-scroll" }, ui.transcript);
    // Stay pinned to the newest line while the agent is there, whatever changes size (a longer
    // draft, a notice, the window); leave the scroll alone while they read further up.
    ui.stuck = true;
    ui.scroller.addEventListener("scroll", function () {
      ui.stuck = atBottom();
      if (ui.stuck) ui.jump.hidden = true;
    });
    if (window.ResizeObserver) {
      var keepPinned = new ResizeObserver(function () {
        if (ui.stuck && ui.scroller) ui.scroller.scrollTop = ui.scroller.scrollHeight;
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
    ui.textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !event.isComposing) {
        event.preventDefault();
        sendReply();
      }
    });
    ui.textarea.addEventListener("blur", function () {
      if (typingOut.active) {
        clearTimeout(typingOut.idleTimer);
        typingOut.idleTimer = setTimeout(stopTyping, TYPING_IDLE);
      }
    });
    ui.send = el("button", { type: "submit", class: "btn primary send" }, icon("send"), "Send");
    ui.picker = el("input", {
      type: "file",
      multiple: true,
      hidden: true,
      tabindex: "-1",
      "aria-label": "Choose files to send",
      onchange: function () {
        var files = Array.prototype.slice.call(ui.picker.files);
        ui.picker.value = ""; // the same file may be chosen again
        files.forEach(function (file) { sendFile(chat, file); });
      },
    });
    ui.attach = el(
      "button",
      { type: "button", class: "btn ghost attach", "aria-label": "Attach a file", title: "Attach a file", onclick: function () { ui.picker.click(); } },
      icon("clip", 18)
    );
    ui.hint = el("p", { id: "composer-hint", class: "composer-hint" });
    ui.composer = el(
      "form",
      {
        class: "composer",
        "aria-label": "Reply to the visitor",
        onsubmit: function (event) {
          event.preventDefault();
          sendReply();
        },
      },
      el("label", { for: "reply", class: "vh", text: "Reply" }),
      el("div", { class: "composer-row" }, ui.textarea, ui.picker, ui.attach, ui.send),
      ui.hint
    );

    ui.details = el("aside", { id: "chat-details", class: "details", "aria-label": "Visitor details" });
    ui.details.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !ui.details.classList.contains("open")) return;
      ui.details.classList.remove("open");
      ui.detailsToggle.setAttribute("aria-expanded", "false");
      ui.detailsToggle.focus();
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
  }

  function renderEmptyHint() {
    if (!ui.emptyHint) return;
    var waiting = 0;
    chats.forEach(function (chat) { if (chat.s.state === "queued") waiting += 1; });
    var text;
    if (!me) text = "Connecting…";
    else if (waiting === 1) text = "One visitor is waiting. Select the chat on the left to accept it.";
    else if (waiting > 1) text = waiting + " visitors are waiting. The oldest is at the top of the list.";
    else text = "Nobody is waiting right now. New chats appear on the left.";
    if (ui.emptyHint.textContent !== text) ui.emptyHint.textContent = text;
  }

  function stateLabel(chat) {
    var s = chat.s;
    if (s.state === "queued") return ["Waiting", "queued"];
    if (s.state === "ended") return ["Ended", "ended"];
    if (isMineActive(chat)) return ["Active", "active"];
    return ["With " + agentName(chat), "others"];
  }

  function renderPaneHeader() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.title) return;
    var s = chat.s;
    var online = !!s.online && s.state !== "ended";
    var label = stateLabel(chat);
    ui.title.replaceChildren(
      el("span", { class: "dot " + (online ? "online" : "away"), title: online ? "Online" : "Away" }),
      el("span", { class: "chat-name", text: nickname(chat) }),
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

  /* The visitor's rating: a thumb and "Rated good" / "Rated bad", and their comment. */
  function rating(value, comment) {
    var good = value === "good";
    var thumb = icon("thumb", 14);
    if (!good) thumb.classList.add("down");
    return el(
      "span",
      { class: "rating " + (good ? "good" : "bad") },
      el("span", { class: "rating-badge" }, thumb, good ? "Rated good" : "Rated bad"),
      comment ? el("q", { class: "rating-comment", text: comment }) : null
    );
  }

  // --- an offline message --------------------------------------------------------------------------

  function renderMessagePane(pane, chat) {
    var mail = safeMail(chat.s.visitor && chat.s.visitor.email);
    var created = parseTime(chat.s.createdAt);
    ui.message = el("div", { class: "message-card" });
    var head = el(
      "header",
      { class: "chat-head message-head" },
      el(
        "div",
        { class: "chat-who" },
        el(
          "h2",
          { id: "chat-title", class: "chat-title" },
          el("span", { class: "chat-name", text: nickname(chat) }),
          el("span", { class: "pill message", text: "Offline message" })
        ),
        el("p", { class: "chat-meta" }, "Left ", timeEl(created, shortDateTime(created)), " on " + siteName(chat))
      ),
      mail
        ? el(
            "div",
            { class: "chat-tools" },
            el("a", { class: "btn primary", href: mail + "?subject=" + encodeURIComponent("Re: your message to " + siteName(chat)) }, "Reply by email")
          )
        : null
    );
    pane.replaceChildren(head, el("section", { class: "message-view", "aria-labelledby": "chat-title" }, ui.message));
    renderMessage();
  }

  function renderMessage() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.message) return;
    var v = chat.s.visitor || {};
    var text = null;
    var page = v.page;
    (chat.events || []).forEach(function (ev) {
      if (ev.kind === "message" && ev.from === "visitor") text = ev.text || "";
      if (ev.kind === "visit" && !page) page = ev.url;
    });
    if (text === null) text = (chat.s.lastMessage && chat.s.lastMessage.text) || ""; // the start, until loaded
    var rows = el("dl", { class: "kv message-kv" });
    function row(label, value) {
      rows.append(el("div", { class: "kv-row" }, el("dt", { text: label }), el("dd", null, value)));
    }
    row("Name", v.nickname || "—");
    var mail = safeMail(v.email);
    row("Email", mail ? el("a", { href: mail, text: v.email }) : v.email || el("span", { class: "none", text: "Not given" }));
    var href = safeUrl(page);
    row("Page", href ? externalLink(href, page) : page || el("span", { class: "none", text: "Unknown" }));
    var created = parseTime(chat.s.createdAt);
    row("Received", timeEl(created, fullDate(created)));
    row("Site", siteName(chat));
    ui.message.replaceChildren(
      el("div", { class: "message-text", "aria-busy": chat.events ? null : "true" }, linkify(text)),
      rows
    );
  }

  function renderSince() {
    var chat = selectedId ? chats.get(selectedId) : null;
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

  var endConfirmTimer = 0;

  function renderHeaderActions() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.actions) return;
    clearTimeout(endConfirmTimer);
    ui.actions.replaceChildren();
    if (chat.s.state === "queued") {
      var acceptButton = el(
        "button",
        { type: "button", class: "btn primary", onclick: function () { accept(chat); } },
        chat.accepting ? "Accepting…" : "Accept"
      );
      acceptButton.disabled = !socketOpen || chat.accepting;
      ui.actions.append(acceptButton);
    } else if (isMineActive(chat)) {
      var endButton = el("button", { type: "button", class: "btn danger-ghost" }, "End chat");
      endButton.disabled = !socketOpen;
      endButton.addEventListener("click", function () {
        if (endButton.getAttribute("data-confirm") === "yes") {
          clearTimeout(endConfirmTimer);
          endButton.disabled = true;
          endButton.textContent = "Ending…";
          endChat(chat);
          return;
        }
        endButton.setAttribute("data-confirm", "yes");
        endButton.classList.add("confirm");
        endButton.textContent = "Click again to end";
        endConfirmTimer = setTimeout(function () {
          endButton.removeAttribute("data-confirm");
          endButton.classList.remove("confirm");
          endButton.textContent = "End chat";
        }, 4000);
      });
      ui.actions.append(endButton);
    }
  }

  function renderNotice() {
    var chat = selectedId ? chats.get(selectedId) : null;
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

  function renderDetails() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.details) return;
    var v = chat.s.visitor || {};
    var rows = el("dl", { class: "kv" });
    function row(label, value) {
      rows.append(el("div", { class: "kv-row" }, el("dt", { text: label }), el("dd", null, value)));
    }
    row("Name", v.nickname || "—");
    if (v.email) {
      var mail = safeMail(v.email);
      row("Email", mail ? el("a", { href: mail, text: v.email }) : v.email);
    } else {
      row("Email", el("span", { class: "none", text: "Not given" }));
    }
    var page = pageUrlOf(chat);
    if (page) {
      var href = safeUrl(page);
      row("Current page", href ? externalLink(href, page) : page);
    } else {
      row("Current page", el("span", { class: "none", text: "Unknown" }));
    }
    row("Site", siteName(chat));
    var created = parseTime(chat.s.createdAt);
    row("Started", timeEl(created, shortDateTime(created)));
    if (v.userAgent) {
      row("Browser", el("span", null, el("span", { class: "ua-short", text: describeAgent(v.userAgent) }), el("span", { class: "ua-full", text: v.userAgent })));
    }

    var data = v.userData && typeof v.userData === "object" ? v.userData : {};
    var keys = Object.keys(data);
    var dataBlock;
    if (keys.length) {
      dataBlock = el("dl", { class: "kv user-data" });
      keys.forEach(function (key) {
        dataBlock.append(el("div", { class: "kv-row" }, el("dt", { text: key }), el("dd", { text: String(data[key]) })));
      });
    } else {
      dataBlock = el("p", { class: "none", text: "None" });
    }
    ui.details.replaceChildren(
      el("h3", { text: "Visitor" }),
      rows,
      el("h3", { text: "Data from the site" }),
      dataBlock
    );
  }

  function safeMail(email) {
    if (typeof email !== "string" || /[\s<>"]/.test(email) || email.indexOf("@") < 1) return null;
    return "mailto:" + encodeURIComponent(email).replace(/%40/g, "@");
  }

  function describeAgent(ua) {
    var browser = null;
    var m;
    if ((m = /Edg(?:e|A|iOS)?\/(\d+)/.exec(ua))) browser = "Edge " + m[1];
    else if ((m = /OPR\/(\d+)/.exec(ua))) browser = "Opera " + m[1];
    else if ((m = /Firefox\/(\d+)/.exec(ua))) browser = "Firefox " + m[1];
    else if ((m = /(?:Chrome|CriOS|Chromium)\/(\d+)/.exec(ua))) browser = "Chrome " + m[1];
    else if ((m = /Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari/.exec(ua))) browser = "Safari " + m[1];
    var os = null;
    if (/Windows NT/.test(ua)) os = "Windows";
    else if (/Android/.test(ua)) os = "Android";
    else if (/iPhone|iPad|iPod/.test(ua)) os = "iOS";
    else if (/Mac OS X|Macintosh/.test(ua)) os = "macOS";
    else if (/CrOS/.test(ua)) os = "ChromeOS";
    else if (/Linux/.test(ua)) os = "Linux";
    if (/Headless/.test(ua)) browser = (browser || "Browser") + " (headless)";
    if (!browser && !os) return "Unknown browser";
    return [browser, os].filter(Boolean).join(" on ");
  }

  // --- the transcript ------------------------------------------------------------------------------

  function atBottom() {
    var s = ui.scroller;
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  function scrollToBottom(force) {
    if (!ui.scroller) return;
    if (force || atBottom()) {
      ui.scroller.scrollTop = ui.scroller.scrollHeight;
      ui.stuck = true;
    }
    if (ui.jump) ui.jump.hidden = true;
  }

  function renderTranscript() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.transcript) return;
    ui.group = null;
    ui.day = null;
    ui.previousKind = null;
    ui.transcript.replaceChildren();
    if (!chat.events) {
      ui.transcript.append(el("li", { class: "sys loading", text: "Loading the conversation…" }));
      ui.transcript.setAttribute("aria-busy", "true");
      return;
    }
    ui.transcript.removeAttribute("aria-busy");
    // Built off-screen and announced as one change, not one per line.
    ui.transcript.setAttribute("aria-live", "off");
    chat.events.forEach(function (ev) {
      var node = eventNode(ev);
      if (node) ui.transcript.append(node);
    });
    if (!chat.events.length) ui.transcript.append(el("li", { class: "sys placeholder", text: "No messages yet." }));
    renderPending(chat);
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
    ui.transcript.setAttribute("aria-live", "polite");
  }

  function renderEvent(chat, ev, mine) {
    if (!ui.transcript) return;
    var loading = ui.transcript.querySelector(".loading");
    if (loading) return; // the whole transcript renders when history arrives
    var empty = ui.transcript.querySelector(".sys.placeholder");
    if (empty) empty.remove();
    var stick = ui.stuck || atBottom();
    var node = eventNode(ev);
    if (!node) return;
    var firstPending = ui.transcript.querySelector(".pending-item");
    ui.transcript.insertBefore(node, firstPending);
    if (stick || mine) scrollToBottom(true);
    else if (ui.jump) ui.jump.hidden = false;
  }

  /* One transcript line. Consecutive messages from the same person within a few minutes share one
   * name line, like a conversation reads; every message keeps its own time. */
  function eventNode(ev) {
    var at = parseTime(ev.at);
    var fragment = document.createDocumentFragment();
    var day = new Date(at).toDateString();
    if (ui.day !== day) {
      fragment.append(el("li", { class: "day", role: "separator" }, el("span", { text: dayLabel(at) })));
      ui.day = day;
      ui.group = null;
    }
    var node = null;
    if (ev.kind === "message" || ev.kind === "attachment") {
      var from = ev.from === "agent" ? "agent" : ev.from === "system" ? "system" : "visitor";
      if (from === "system") {
        node = systemLine(ev.text || "", at);
        ui.group = null;
      } else {
        var key = from + "\u0000" + (ev.name || "");
        var continued = ui.group && ui.group.key === key && at - ui.group.at < 5 * 60000;
        ui.group = { key: key, at: at };
        node = messageNode(from, ev.name, ev.kind === "attachment" ? fileContent(ev.file) : ev.text || "", at, continued);
      }
    } else if (ev.kind === "joined") {
      node = systemLine((ev.name || "An agent") + " joined the chat", at);
      ui.group = null;
    } else if (ev.kind === "left") {
      node = systemLine((ev.name || "The agent") + " left the chat", at);
      ui.group = null;
    } else if (ev.kind === "state" && ev.state === "active" && ui.previousKind === "joined") {
      node = null; // "X joined the chat" already says it
    } else if (ev.kind === "state") {
      var text = ev.state === "queued"
        ? "Waiting for an agent" + (typeof ev.position === "number" ? " · position " + ev.position + " in the queue" : "")
        : ev.state === "active"
          ? "Chat is active"
          : ev.state === "ended"
            ? "Chat ended"
            : "State: " + String(ev.state);
      node = systemLine(text, at, ev.state === "ended" ? "ended" : null);
      ui.group = null;
    } else if (ev.kind === "rating") {
      node = systemLine(rating(ev.rating, ev.comment), at, "rated");
      ui.group = null;
    } else if (ev.kind === "visit") {
      var href = safeUrl(ev.url);
      var content = document.createDocumentFragment();
      content.append("Now on ");
      content.append(href ? externalLink(href, ev.url) : String(ev.url || ""));
      node = systemLine(content, at, "visit");
    }
    ui.previousKind = ev.kind;
    if (!node) return fragment.childNodes.length ? fragment : null;
    node.setAttribute("data-seq", String(ev.seq));
    fragment.append(node);
    return fragment;
  }

  function systemLine(content, at, extra) {
    return el(
      "li",
      { class: "sys" + (extra ? " " + extra : "") },
      el("span", { class: "sys-text" }, content),
      " ",
      timeEl(at)
    );
  }

  /* `content`: a message's text, or the node of a file (fileContent). */
  function messageNode(from, name, content, at, continued) {
    var displayName = from === "agent" && me && name === me.displayName ? "You" : name || (from === "agent" ? "Agent" : "Visitor");
    var meta = el("div", { class: "msg-meta" });
    if (!continued) meta.append(el("span", { class: "msg-name", text: displayName }));
    meta.append(timeEl(at));
    var isText = typeof content === "string";
    var bubble = el("div", { class: isText ? "bubble" : "bubble file-bubble" }, isText ? linkify(content) : content);
    // A continued message shows no name, but a screen reader still says who wrote it.
    return el(
      "li",
      { class: "msg " + from + (continued ? " continued" : "") },
      continued ? visuallyHidden(displayName + ": ") : null,
      meta,
      bubble
    );
  }

  /* A file in the transcript: a download link with its name (text), type and size; images as a thumbnail
   * (same origin, so the page's `img-src 'self'` allows it; the download is always an attachment). */
  function fileContent(file) {
    file = file || {};
    var name = String(file.name || "file");
    var type = String(file.type || "");
    var url = typeof file.url === "string" && file.url.indexOf(FILE_URL) === 0 ? file.url : null;
    var label = el(
      "span",
      { class: "file-label" },
      icon("file", 20),
      el("span", { class: "file-text" }, el("span", { class: "file-name", text: name }), el("span", { class: "file-size", text: " " + fileDetails(type, file.size) }))
    );
    if (!url) return el("span", { class: "file" }, label);
    var thumbnail = THUMBNAIL_TYPES.indexOf(type) >= 0 ? el("img", { class: "file-thumb", src: url, alt: "", loading: "lazy" }) : null;
    return el("a", { class: "file", href: url, download: name, target: "_blank", rel: "noopener noreferrer" }, thumbnail, label);
  }

  function fileDetails(type, size) {
    var kind = { "application/pdf": "PDF", "text/plain": "Text" }[type] || (type.indexOf("image/") === 0 ? type.slice(6).toUpperCase() + " image" : "File");
    if (typeof size !== "number") return kind;
    var amount = size < 1024 ? size + " B" : size < 1048576 ? Math.ceil(size / 1024) + " KB" : (size / 1048576).toFixed(1) + " MB";
    return kind + " · " + amount;
  }

  function removePendingDom(clientId) {
    if (!ui.transcript) return;
    var nodes = ui.transcript.querySelectorAll(".pending-item");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-client") === clientId) nodes[i].remove();
    }
  }

  function renderPending(chat) {
    if (chat.id !== selectedId || !ui.transcript || !chat.events) return;
    var existing = ui.transcript.querySelectorAll(".pending-item");
    for (var i = 0; i < existing.length; i++) existing[i].remove();
    chat.pending.forEach(function (p) {
      var status;
      if (p.failed) {
        status = el(
          "span",
          { class: "msg-status failed" },
          "Not sent · ",
          el("button", { type: "button", class: "link", onclick: function () { retry(chat, p.id); } }, "Retry"),
          " · ",
          el("button", { type: "button", class: "link", onclick: function () { discard(chat, p.id); } }, "Discard")
        );
      } else {
        status = el("span", { class: "msg-status", text: p.acked ? "Sent" : socketOpen ? "Sending…" : "Waiting for connection…" });
      }
      ui.transcript.append(
        el(
          "li",
          {
            class: "msg agent pending-item" + (p.acked ? "" : " pending") + (p.failed ? " failed" : ""),
            "data-client": p.id,
          },
          el("div", { class: "msg-meta" }, el("span", { class: "msg-name", text: "You" }), status),
          el("div", { class: "bubble" }, linkify(p.text))
        )
      );
    });
    chat.uploads.forEach(function (upload) {
      ui.transcript.append(
        el(
          "li",
          { class: "msg agent pending-item pending", "data-client": upload.id },
          el("div", { class: "msg-meta" }, el("span", { class: "msg-name", text: "You" }), el("span", { class: "msg-status", text: "Uploading…" })),
          el("div", { class: "bubble file-bubble" }, el("span", { class: "file" }, el("span", { class: "file-label" }, icon("file", 20), el("span", { class: "file-name", text: upload.name }))))
        )
      );
    });
  }

  function renderTyping() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.typing) return;
    if (chat.typing && chat.s.state !== "ended") {
      var stick = atBottom();
      ui.typing.replaceChildren(
        el("span", { class: "typing-dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
        chat.typing.name + " is typing…"
      );
      ui.typing.classList.add("on");
      if (stick) scrollToBottom(true);
    } else {
      ui.typing.replaceChildren();
      ui.typing.classList.remove("on");
    }
  }

  function renderComposerState() {
    var chat = selectedId ? chats.get(selectedId) : null;
    if (!chat || !ui.textarea) return;
    var mine = isMineActive(chat);
    ui.textarea.disabled = !mine;
    ui.send.disabled = !mine;
    ui.attach.hidden = !mine; // files only in my own active chats
    ui.composer.classList.toggle("disabled", !mine);
    var hint;
    if (mine) {
      ui.textarea.placeholder = "Reply to " + nickname(chat) + "…";
      hint = socketOpen
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
      ui.textarea.placeholder = hint;
    }
    ui.hint.textContent = hint;
    renderPending(chat);
  }

  // --- start ---------------------------------------------------------------------------------------

  function start() {
    var nav = document.querySelector(".lists");
    if (nav) nav.addEventListener("keydown", onListKey);

    var retryButton = $("reconnect-now");
    if (retryButton) retryButton.addEventListener("click", reconnectNow);

    function onAttention() {
      if (!isVisible()) return;
      var chat = selectedId ? chats.get(selectedId) : null;
      if (chat) markRead(chat);
    }
    document.addEventListener("visibilitychange", onAttention);
    window.addEventListener("focus", onAttention);
    window.addEventListener("online", reconnectNow);
    window.addEventListener("beforeunload", function (event) {
      var unsent = false;
      chats.forEach(function (chat) {
        if (chat.pending.some(function (p) { return !p.acked; }) || chat.uploads.length) unsent = true;
      });
      if (unsent) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    setInterval(tick, CLOCK_EVERY);
    renderPane();
    updateTitle();
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
