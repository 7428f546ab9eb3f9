/*
 * widget_server chat widget, the visitor side of wire protocol v1 (docs/protocol.md):
 *   <script src="https://CHAT_HOST/widget.js" data-site="SITE" async></script>
 *   optional: data-color="#0a7c66", data-position="left", data-locale="de"
 * In a shadow root, not an iframe: the socket's Origin is the host site's, so the server's origin check
 * means something. Server text goes in as text nodes: no innerHTML (Trusted Types pages too).
 */
(() => {
  "use strict";

  const TAG = "widget-server-chat";
  const script = document.currentScript || document.querySelector('script[src*="/widget.js"][data-site]');
  const site = script && script.dataset.site;
  // The host page's API (see "The host page's API" below): calls wait in WidgetServer.q until it is up.
  const stub = (window.WidgetServer = window.WidgetServer || function () { (stub.q = stub.q || []).push(arguments); });
  if (!site || !window.WebSocket || !Element.prototype.attachShadow) return;

  const src = new URL(script.src, location.href);
  // Behind a proxy under a path prefix, the socket is next to widget.js.
  const base = src.pathname.replace(/widget\.js$/, "");
  const WS_URL = (src.protocol === "https:" ? "wss://" : "ws://") + src.host + base + "ws/" + encodeURIComponent(site);
  const KEY = "widget_server:" + src.origin + ":" + site;
  const HTTP = src.origin + base;
  const HELLO = HTTP + "hello/" + encodeURIComponent(site);
  const nonce = script.nonce || script.getAttribute("nonce");
  const color = script.dataset.color;
  const BRAND = color && window.CSS && CSS.supports("color", color) ? color : "#2a5bd7";

  // --- languages: English here (JSON: widget_server/widget_strings.py reads it), others in static/locales/.
  const EN = {
"open": "Open chat",
"close": "Close chat",
"unread": " unread",
"chat": "Chat",
"end": "End chat",
"end_confirm": "End this chat?",
"cancel": "Cancel",
"minimize": "Minimize chat",
"dismiss": "Dismiss",
"greeting": "Hi there! How can we help?",
"intro": "Tell us your name and we'll connect you with our team.",
"queue_note": "No one is online right now — your chat will wait in the queue.",
"leave_instead": "Leave a message instead",
"name": "Name",
"email": "Email",
"subject": "Subject",
"team": "Department",
"optional": "(optional)",
"start": "Start chat",
"starting": "Starting…",
"offline_title": "Leave us a message",
"offline_lead": "No one is online right now. Leave a message and we'll get back to you by email.",
"closed_lead": "We're closed right now. Leave a message and we'll answer by email.",
"back_lead": "{back} Leave a message and we'll answer by email.",
"back_minutes": {"one": "We're back in {n} minute.", "other": "We're back in {n} minutes."},
"back_today": "We're back today at {time}.",
"back_tomorrow": "We're back tomorrow at {time}.",
"back_on": "We're back {day} at {time}.",
"message": "Message",
"send_message": "Send message",
"sending": "Sending…",
"anyway": "Start a chat anyway",
"sent_title": "Thanks — we got your message",
"sent_text": "We'll reply by email to {email}.",
"need_name": "Please enter your name.",
"need_email": "Please enter your email address.",
"need_message": "Please write your message.",
"bad_email": "Please enter a valid email address.",
"too_long": "This is too long.",
"online": "We're online",
"reply_minutes": "Usually replies in a few minutes",
"reply_hour": "Usually replies in under an hour",
"reply_hours": "Usually replies within a few hours",
"reply_day": "Usually replies within a day",
"away": "We'll reply as soon as we can",
"connecting": "Connecting…",
"reconnecting": "Reconnecting…",
"offline": "Offline — we'll reconnect automatically",
"waiting": "Waiting for an agent",
"waiting_place": "Waiting for an agent (you are number {n})",
"chatting": "Chatting with {name}",
"chatting_agent": "Chatting with an agent",
"ended": "Chat ended",
"started": "Chat started",
"joined": "{name} joined the chat",
"joined_agent": "An agent joined the chat",
"left": "{name} left the chat",
"left_agent": "The agent left the chat",
"agent": "Agent",
"typing": "{name} is typing…",
"conversation": "Conversation",
"placeholder": "Write a message…",
"not_sent": "Not sent",
"seen": "Seen",
"retry": "Not sent — tap to retry",
"rate_question": "How was this chat?",
"rated": "You rated this chat",
"good": "Good",
"bad": "Bad",
"thanks": "Thanks for your feedback",
"comment": "Comment",
"comment_placeholder": "Add a comment (optional)",
"send": "Send",
"new_chat": "Start a new chat",
"kb": "{n} KB",
"mb": "{n} MB",
"error": "Something went wrong; please try again.",
"error_invalid_field": "Please check what you entered.",
"error_already_started": "You already have a chat open.",
"error_chat_ended": "This chat has ended.",
"error_rate_limited": "Too many messages from here just now; please try again later.",
"error_backend_unavailable": "We can't start a chat right now. Please try again in a moment.",
"error_not_delivered": "This message could not be delivered.",
"error_unsupported": "This is not available here."
  };
  // Error codes said with "error"; a code unknown here shows the server's sentence.
  const GENERAL = ["bad_frame", "too_large", "unknown_type", "not_started", "invalid_token", "internal_error", "not_found"];
  const LOCALES = ["ar", "de", "en", "es", "fr", "he", "it", "ja", "nl", "pl", "pt", "ru", "tr"];
  const loaded = { en: Promise.resolve(EN) };
  let strings = EN;
  let custom = {}; // the site's own (hello.strings)
  let lang = "en";
  let intl = "en"; // for Intl: the browser's variant of it (en-GB's clock), or it
  let localized = "";
  const labels = []; // [node or element, attribute, id, vars]

  // --- storage: may be disabled; then a chat does not survive a reload

  function readStore(area) {
    try {
      return JSON.parse(window[area].getItem(KEY)); // even reading `localStorage` may throw
    } catch (e) {
      return null;
    }
  }

  function writeStore(area, value) {
    try {
      if (value == null) window[area].removeItem(KEY);
      else window[area].setItem(KEY, JSON.stringify(value));
    } catch (e) {
      /* unavailable or full */
    }
  }

  // The visitor token of `welcome` (and of an offline message's `ack`), kept apart from the chat and
  // across chats: sent with the next `start`, it tells the agents that this browser chatted before.
  const VISITOR = KEY + ":visitor";

  function visitorToken() {
    try {
      return localStorage.getItem(VISITOR);
    } catch (e) {
      return null;
    }
  }

  function keepVisitor(token) {
    try {
      if (typeof token === "string" && token) localStorage.setItem(VISITOR, token);
    } catch (e) {
      /* unavailable or full */
    }
  }

  // --- DOM helpers

  /** createElement with attributes; string children become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (value.id) {
        labels.push([el, name, value.id]); // L(id)
        el.setAttribute(name, t(value.id));
      }
      else el.setAttribute(name, value === true ? "" : value);
    }
    el.append(...children.filter((child) => child != null && child !== false));
    return el;
  }

  /** String `id` in the visitor's language, {placeholders} filled in. */
  function t(id, vars) {
    let text = id in custom ? custom[id] : id in strings ? strings[id] : EN[id];
    if (typeof text === "object") text = text[new Intl.PluralRules(intl).select(vars && vars.n)] || text.other;
    return String(text).replace(/\{(\w+)\}/g, (all, key) => {
      const value = vars && vars[key];
      return value == null ? all : typeof value === "number" ? value.toLocaleString(intl) : value;
    });
  }

  /** A text node, or (L) an attribute for h(), that follows the language. */
  function T(id, vars) {
    const node = document.createTextNode(t(id, vars));
    labels.push([node, null, id, vars]);
    return node;
  }
  const L = (id) => ({ id });

  /** The first language we have of data-locale, the page's lang, the browser's, the site's. */
  function choose(fallback) {
    const tags = [forced, script.dataset.locale, document.documentElement.lang, ...navigator.languages, fallback];
    return tags.map((tag) => String(tag || "").toLowerCase().split(/[-_]/)[0]).find((code) => LOCALES.includes(code)) || "en";
  }

  /** Speak the language `choose` picks, with the site's `strings`. */
  function localize(w) {
    const code = choose(w.locale);
    const key = JSON.stringify([code, w.strings]);
    if (key === localized) return Promise.resolve();
    loaded[code] = loaded[code] || fetch(HTTP + "widget-locales/" + code + ".json", { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : Promise.reject()))
      .catch(() => {
        delete loaded[code]; // English for now
        return {};
      });
    return loaded[code].then((table) => {
      if (localized === key) return;
      localized = key;
      strings = table;
      lang = code;
      intl = navigator.languages.find((l) => l.toLowerCase().split("-")[0] === code) || code;
      const over = w.strings || {};
      custom = {};
      for (const id in over) if (!LOCALES.includes(id)) custom[id] = over[id];
      Object.assign(custom, over[code]);
      relabel();
    });
  }

  const ICONS = {
    chat: "M7.9 20A9 9 0 1 0 4 16.1L2 22z",
    file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm0 0v6h6",
    down: "m6 9 6 6 6-6",
    minus: "M5 12h14",
    send: "M22 2 11 13M22 2l-7 20-4-9-9-4z",
    thumb: "M7 10v12M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 8a2 2 0 0 1-1.9 1.4H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h2.8a2 2 0 0 0 1.8-1.1L12 2a3.1 3.1 0 0 1 3 3.9z",
  };

  function icon(name, cls) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    const path = document.createElementNS(NS, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    if (cls) svg.setAttribute("class", cls);
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function timeEl(at) {
    let date = new Date(at || Date.now());
    if (isNaN(date)) date = new Date();
    const hhmm = date.toLocaleTimeString(intl, { hour: "2-digit", minute: "2-digit" });
    return h("time", { datetime: date.toISOString(), title: date.toLocaleString(intl) }, hhmm);
  }

  function bytes(size) {
    return size >= 1048576 ? t("mb", { n: Math.round(size / 104857.6) / 10 }) : t("kb", { n: Math.ceil(size / 1024) });
  }

  /** A message's text with a little markdown (docs/embedding.md, "Formatting"): **bold**, _italics_, lines
   * starting "- " or "1. " as lists, http(s) URLs as links. Elements and text nodes only: the text never
   * becomes HTML. Hand-written (a markdown library is bigger than this whole widget); the console's is
   * static/agent/format.js, with the same rules. */
  function richText(text) {
    const out = document.createDocumentFragment();
    let list = null;
    text.split("\n").forEach((line, i) => {
      const item = /^\s*(?:[-*\u2022]|(\d{1,9})[.)])\s+(.*)/.exec(line);
      const tag = item ? (item[1] ? "ol" : "ul") : "";
      const li = item && h("li", null, ...inline(item[2]));
      if (tag && list && list.localName === tag) return list.append(li);
      if (tag) return out.append((list = h(tag, { start: item[1] }, li)));
      if (i && !list) out.append("\n");
      out.append(...inline(line));
      list = null;
    });
    return out;
  }

  /** Bold, italics and links within a line; markers hug their text, and an _ inside a word is a letter. */
  function inline(text) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"]+|\*\*(?=\S)(.*?\S)\*\*|(^|\W)_(?=\S)([^_]*?\S)_(?!\w)/gi)) {
      const at = m.index + (m[2] || "").length;
      let part = m[0].slice(at - m.index);
      let node;
      if (m[1]) node = h("strong", null, ...inline(m[1]));
      else if (m[3]) node = h("em", null, ...inline(m[3]));
      else {
        // Trailing punctuation ends the sentence, unless it closes a "(" of the URL.
        while (/[.,;:!?'")\]}]$/.test(part) && !(part.endsWith(")") && part.includes("("))) part = part.slice(0, -1);
        try {
          node = h("a", { href: new URL(part).href, target: "_blank", rel: "noopener noreferrer nofollow" }, part);
        } catch (e) {
          node = part; // not a URL after all (http://%zz)
        }
      }
      out.push(text.slice(last, at), node);
      last = at + part.length;
    }
    out.push(text.slice(last));
    return out;
  }

  // WCAG 2 relative luminance and contrast ratio (hand-written: five lines, smaller than any library).
  const lum = (c) => c.reduce((sum, v, i) => sum + [0.2126, 0.7152, 0.0722][i] * ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4), 0);
  const contrast = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);

  /** The site's colour as shown, lightened a step at a time while it fails WCAG: in the dark theme until it
   * stands out from the window (3:1, as for controls), and in both until white or dark text on it reads
   * at 4.5:1 (a mid-tone reaches neither); the text is whichever of the two contrasts more. */
  function brand(rgb, dark) {
    let c = rgb;
    const ink = () => [contrast(c, [255, 255, 255]), contrast(c, [21, 24, 31])]; // white, .light's --ink
    // [29, 32, 39]: the dark theme's --bg
    while ((dark && contrast(c, [29, 32, 39]) < 3) || Math.max(...ink()) < 4.5) c = c.map((v) => v + (255 - v) / 8);
    root.style.setProperty("--brand", "rgb(" + c + ")"); // CSSOM: not blocked by the page's CSP
    root.classList.toggle("light", ink()[0] < ink()[1]);
  }

  function newId() {
    // randomUUID: secure contexts only
    return crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // --- styles. `all: initial` cuts inheritance at the shadow boundary (!important: else the page's
  // rules win on the host element); the page's selectors never reach inside.

  const CSS_TEXT = `
:host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483647!important;top:0!important;left:0!important;width:0!important;height:0!important}
*,::before,::after{box-sizing:border-box;margin:0;padding:0;border:0;font:inherit;color:inherit;background:none}
[hidden]{display:none!important}
.root{--brand:${BRAND};--ink:#fff;--focus:var(--brand);--text:#1b2130;--muted:#667085;--line:#e3e6ec;--bg:#fff;--bg2:#f6f7f9;--in:#d0d5dd;
font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,system-ui,sans-serif;
color:var(--text);text-align:start;direction:ltr;-webkit-font-smoothing:antialiased}
[dir=rtl]{direction:rtl}
.light{--ink:#15181f;--focus:#15181f}
button{cursor:pointer;text-align:center}
:focus{outline:none}
:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
.head :focus-visible{outline-color:var(--ink)}
.win:focus-visible{outline:none}
.scroll:focus-visible{outline-offset:-2px}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;flex:none}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}

.launcher,.avatar,.hbtn,.send{display:grid;place-items:center;flex:none}
.launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;
background:var(--brand);color:var(--ink);box-shadow:0 6px 20px rgba(16,24,40,.24),0 2px 6px rgba(16,24,40,.12);
opacity:0;visibility:hidden;transform:scale(.8);transition:transform .2s,opacity .2s,visibility 0s .2s}
.ready .launcher{opacity:1;visibility:visible;transform:none;transition-delay:0s}
.ready .launcher:hover{transform:scale(1.06)}
.launcher svg{grid-area:1/1;width:26px;height:26px;transition:.2s}
.launcher .i-close,.open .launcher .i-chat{opacity:0;transform:rotate(-60deg) scale(.6)}
.open .launcher .i-close{opacity:1;transform:none}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;border:2px solid #fff;
background:#e5484d;color:#fff;font-size:12px;font-weight:700;line-height:18px}

.win{position:fixed;right:20px;bottom:92px;width:370px;height:min(560px,calc(100vh - 112px));display:flex;flex-direction:column;
overflow:hidden;background:var(--bg);border-radius:16px;box-shadow:0 16px 48px rgba(16,24,40,.18),0 2px 8px rgba(16,24,40,.08);
opacity:0;visibility:hidden;transform:translateY(12px) scale(.98);transform-origin:bottom right;
transition:opacity .2s,transform .2s,visibility 0s .2s}
.open .win{opacity:1;visibility:visible;transform:none;transition-delay:0s}
.left .launcher,.left .win,.left .greet{right:auto;left:20px}

.head{display:flex;align-items:center;gap:10px;padding:14px;padding-inline:16px 10px;background:var(--brand);color:var(--ink)}
.avatar{width:38px;height:38px;border-radius:50%;background:rgba(255,255,255,.2);font-size:16px;font-weight:600}
.titles{flex:1;min-width:0}
.title{font-size:15.5px;font-weight:600;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.status{display:flex;align-items:baseline;gap:6px;font-size:12.5px;line-height:1.35;opacity:.92}
.dot{width:7px;height:7px;border-radius:50%;flex:none;background:rgba(255,255,255,.55)}
.light .dot{background:rgba(0,0,0,.3)}.dot.ok{background:#3fd68a}.dot.wait{background:#ffc14d}
.hbtn{height:32px;min-width:32px;border-radius:8px}
.hbtn:hover,.end{background:rgba(255,255,255,.16)}
.end{padding:0 10px;font-size:12.5px;font-weight:600}
.light .avatar,.light .hbtn:hover,.light .end{background:rgba(0,0,0,.08)}

.body,.main,.chat,.pre{position:relative;flex:1;min-height:0;display:flex;flex-direction:column;background:var(--bg2)}
.notice{position:absolute;z-index:2;top:10px;left:12px;right:12px;padding:9px 12px;border-radius:10px;background:#262b36;color:#fff;
font-size:13px;box-shadow:0 6px 18px rgba(16,24,40,.2);animation:in .2s}

.pre{overflow-y:auto;gap:14px;padding:22px 20px;background:var(--bg)}
.hi{font-size:19px;font-weight:650}
.lead{color:var(--muted);margin-top:-8px}
.note{padding:10px 12px;border-radius:10px;background:#fff6e5;color:#7a4a00;font-size:13px}
.field{display:flex;flex-direction:column;gap:6px}
label{font-size:13px;font-weight:600}
.opt{font-weight:400;color:var(--muted)}
input,textarea,select{width:100%;border:1px solid var(--in);border-radius:10px;background:var(--bg);color:inherit;unicode-bidi:plaintext}
input,select{height:42px;padding:0 12px}
input:focus,textarea:focus{border-color:var(--focus);outline-offset:0;outline-width:1px}
[aria-invalid=true]{border-color:#d92d20}
.err{color:#b42318;font-size:12.5px}
.err:empty{display:none}
.primary{height:44px;padding:0 16px;border-radius:10px;background:var(--brand);color:var(--ink);font-weight:600}
.primary:disabled,.send:disabled{opacity:.4;cursor:default}
.pre>*{flex:none}
.pre textarea{min-height:80px;padding:9px 12px;resize:vertical}
.link{align-self:center;font-size:13px;text-decoration:underline}

.scroll{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:14px 14px 8px}
.log{display:flex;flex-direction:column}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:82%;margin-top:12px}
.msg.cont{margin-top:4px}
.cont .who{display:none}
.me{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;font-weight:600;color:var(--muted);margin:0 12px 3px}
.bubble{padding:8px 13px;border-radius:18px;background:var(--bg);border:1px solid var(--line);white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:plaintext}
.agent .bubble{border-start-start-radius:6px}
.me .bubble{background:var(--brand);color:var(--ink);border-color:transparent;border-start-end-radius:6px}
.cont .bubble{border-radius:18px}
.bubble a{text-decoration:underline;text-underline-offset:2px}
.bubble .file{display:flex;align-items:center;gap:8px;text-decoration:none}
.file span{font-weight:600;text-decoration:underline}
.file small{font-size:12px;opacity:.75;white-space:nowrap}
.meta{display:flex;gap:8px;align-items:baseline;margin:3px 8px 0;font-size:11px;color:#8a93a3}
.pending .bubble,.failed .bubble{opacity:.6}
.retry{font-size:11.5px;font-weight:600;color:#c4320a}
button.retry{text-decoration:underline}
.sys{align-self:center;max-width:90%;margin:14px 0 2px;padding:3px 10px;border-radius:99px;background:rgba(16,24,40,.05);color:var(--muted);font-size:12px;text-align:center}
.new{animation:in .22s}
@keyframes in{from{opacity:0;transform:translateY(6px)}}
.typing{display:flex;align-items:center;gap:8px;padding:8px 2px 2px;font-size:12.5px;color:var(--muted)}
.dots{display:flex;gap:4px;padding:10px 12px;border-radius:16px;border-end-start-radius:6px;background:var(--bg);border:1px solid var(--line)}
.dots i{width:6px;height:6px;border-radius:50%;background:#98a2b3;animation:blink 1.2s infinite}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes blink{0%,70%,100%{opacity:.35}35%{opacity:1;transform:translateY(-2px)}}

.composer,.ended,.confirm{display:flex;align-items:flex-end;gap:8px;padding:10px 12px 12px;background:var(--bg);border-top:1px solid var(--line)}
.composer textarea{flex:1;resize:none;min-height:42px;max-height:132px;padding:10px 14px;border-radius:21px;line-height:1.4;display:block}
.send{width:42px;height:42px;border-radius:50%;background:var(--brand);color:var(--ink)}
.send svg{width:19px;height:19px;transform:translate(-1px,1px)}
[dir=rtl] .send svg{transform:scaleX(-1) translate(-1px,1px)}
.ended{flex-direction:column;align-items:stretch}
.rate,.rq,.row{display:flex;gap:8px}
.rate{flex-direction:column;font-size:13px;color:var(--muted)}
.rq{align-items:center;font-weight:600;color:var(--text)}
.thumb{display:flex;align-items:center;gap:4px;height:34px;padding:0 10px;border:1px solid var(--line);border-radius:9px}
.bad svg{transform:rotate(180deg)}
.row input,.row .primary{height:38px}
.row .primary{flex:none}

.greet{position:fixed;right:20px;bottom:88px;display:flex;max-width:280px;background:var(--bg);border-radius:14px;box-shadow:0 8px 28px rgba(16,24,40,.2);animation:in .2s}
.gtext{flex:1;padding:12px 0;padding-inline-start:14px;text-align:start;white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:plaintext}
.gtext small{display:block;font-size:12px;color:var(--muted)}
.gx{width:32px;height:32px;font-size:18px;color:var(--muted)}
@media (max-width:479.98px){
.win,.left .win{inset:0;width:100vw;height:100vh;height:100dvh;border-radius:0;transform:translateY(16px)}
.open .launcher{display:none}
input,textarea{font-size:16px}
}
strong{font-weight:700}em{font-style:italic}
.bubble ul,.bubble ol{padding-inline-start:1.3em;white-space:normal}
.confirm{align-items:center;font-weight:600}
.confirm span{flex:1}
.confirm button{height:34px;padding:0 12px;border-radius:9px;border:1px solid var(--line)}
.seen{font-weight:600}
@media (prefers-color-scheme:dark){
.root{--bg:#1d2027;--bg2:#15171c;--text:#e7e9ee;--muted:#a3abba;--line:#343a45;--in:#4d5462;color-scheme:dark}
.note{background:#3b2f16;color:#ffd591}
.sys{background:rgba(255,255,255,.07)}
.err,.retry{color:#ff9b8f}
}
@media (prefers-reduced-motion:reduce){*,::before,::after{animation:none!important;transition:none!important}}
`;

  // --- state

  // The stored chat, shared by the site's tabs; one ended over an hour ago is forgotten.
  let rec = readStore("localStorage");
  if (rec && (!rec.token || (rec.ended && Date.now() - (rec.endedAt || 0) > 3600e3))) {
    rec = null;
    writeStore("localStorage", null);
  }

  let ws = null;
  let attached = false; // `welcome` received on this socket
  let everOpened = false;
  let attempts = 0;
  let lostAt = 0;
  let conn = "connecting";
  let retryTimer, pingTimer, pongTimer, typingIdle, typingHide, noticeTimer, persistTimer;
  let available = true;
  let opensAt = null; // outside business hours: when they open again
  let chose = false; // "Start a chat anyway" while nobody is online
  let leaving = null; // the `leave_message` frame until its `ack`
  let given = null; // the chat's stored rating {rating, comment}
  let rated = ""; // the rating given on this page, and whether its comment was sent
  let commented = false;
  let rateFrame = null; // sent again after a reconnect until its event comes back
  let lastSeq = 0; // highest seq on screen: replayed events up to it are skipped
  let historySeq = rec ? rec.lastSeq || 0 : 0; // shown before this page: no animation
  let readSeq = rec ? rec.readSeq || 0 : 0; // seen with the window open
  let chatState = null;
  let agentName = "";
  let queuePos = 0;
  let starting = null; // the `start` frame until its `welcome`
  let pendingEnd = false;
  let isOpen = false;
  let view = "";
  let lastUrl = (rec && rec.url) || location.href;
  let typingSentAt = 0;
  let stick = true; // at the latest message: keep it in view
  let files = false; // the site takes attachments
  let fileRules = {}; // hello.files
  let siteName = "";
  let words = (rec && rec.words) || {}; // hello's locale and strings
  let closed = false; // outside business hours
  let replies = ""; // hello.replies as a string id
  let filesJs = false;
  const outbox = new Map(); // client id -> {id, text, at, el, failed}: not yet stored
  const shownIds = new Set();
  const agentSeqs = [];

  // --- the UI. Tab order: launcher, window controls, form or composer.

  const badgeCount = h("span");
  const unreadText = h("span", { class: "sr" });
  const badge = h("span", { class: "badge", id: "unread", hidden: true }, badgeCount, unreadText);
  const launcher = h(
    "button",
    { class: "launcher", "aria-expanded": "false", "aria-controls": "win", onclick: () => toggle(!isOpen) },
    icon("chat", "i-chat"),
    icon("down", "i-close"),
    badge
  );

  const chatIcon = icon("chat");
  const avatar = h("div", { class: "avatar", "aria-hidden": "true" }, chatIcon);
  const title = h("h2", { class: "title", id: "title" });
  const statusText = h("span");
  const dot = h("span", { class: "dot" });
  const endBtn = h("button", { class: "hbtn end", hidden: true, onclick: () => askEnd(true) }, T("end"));
  // "End chat" asks first, in the window (no window.confirm: it would block the host page).
  const endNo = h("button", { onclick: () => askEnd(false) }, T("cancel"));
  const confirmBar = h(
    "div",
    { class: "confirm", role: "alertdialog", "aria-labelledby": "endq", hidden: true },
    h("span", { id: "endq" }, T("end_confirm")),
    h("button", { class: "primary", onclick: () => (askEnd(false, box), endChat()) }, T("end")),
    endNo
  );

  /** Show or hide the question; focus on its safe answer, then back where it came from. */
  function askEnd(on, to) {
    confirmBar.hidden = !on;
    (on ? endNo : to || endBtn).focus();
  }
  const head = h(
    "div", // not a <header>: that would add a second banner landmark to the host page
    { class: "head" },
    avatar,
    h("div", { class: "titles" }, title, h("p", { class: "status", role: "status" }, dot, statusText)),
    endBtn,
    h("button", { class: "hbtn", "aria-label": L("minimize"), onclick: () => toggle(false) }, icon("minus"))
  );

  const fields = {};
  function field(name, label, optional, attrs, tag) {
    const id = "f-" + name;
    const input = h(tag || "input", { id, name, "aria-describedby": id + "-err", ...attrs });
    const err = h("p", { class: "err", id: id + "-err" });
    input.addEventListener("input", () => input.getAttribute("aria-invalid") && validate(name));
    fields[name] = { input, err };
    const opt = optional && h("span", { class: "opt" }, " ", T("optional"));
    return h("div", { class: "field" }, h("label", { for: id }, T(label), opt), input, err);
  }
  /** The pre-chat form (a chat) or the offline form (a message), while nobody is online. */
  function pick(chat) {
    chose = chat;
    showView(home());
    focusView();
  }
  const note = h(
    "p",
    { class: "note", hidden: true },
    T("queue_note"),
    " ",
    h("button", { class: "link", type: "button", onclick: () => pick(false) }, T("leave_instead"))
  );
  const startBtn = h("button", { class: "primary", type: "submit" });
  const formView = h(
    "form",
    { class: "pre", novalidate: true, onsubmit: submitForm },
    h("p", { class: "hi" }, T("greeting")),
    h("p", { class: "lead" }, T("intro")),
    note,
    field("name", "name", false, { required: true, maxlength: 64, autocomplete: "name" }),
    field("email", "email", true, { type: "email", maxlength: 254, autocomplete: "email" }),
    field("subject", "subject", true, { maxlength: 200 }),
    field("team", "team", false, {}, "select"),
    startBtn
  );
  const teamField = fields.team.input.parentNode; // shown when the site offers more than one team
  teamField.hidden = true;

  // Nobody can answer live: a message, answered by email.
  const offLead = h("p", { class: "lead" });
  const offBtn = h("button", { class: "primary", type: "submit" });
  const offErr = h("p", { class: "err", role: "alert" });
  const anyway = h("button", { class: "link", type: "button", onclick: () => pick(true) }, T("anyway"));
  const offlineView = h(
    "form",
    { class: "pre", novalidate: true, onsubmit: leaveMessage },
    h("p", { class: "hi" }, T("offline_title")),
    offLead,
    field("oname", "name", false, { required: true, maxlength: 64, autocomplete: "name" }),
    field("oemail", "email", false, { type: "email", required: true, maxlength: 254, autocomplete: "email" }),
    field("omsg", "message", false, { required: true, maxlength: 4000 }, "textarea"),
    offErr,
    offBtn,
    anyway
  );
  const sentText = h("p", { class: "lead" });

  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": L("conversation") });
  const typingText = h("span");
  const typing = h("div", { class: "typing", hidden: true }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), typingText);
  const scroller = h("div", { class: "scroll", tabindex: 0 }, log, typing); // focusable: keyboard scrolling
  scroller.addEventListener("scroll", () => {
    stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 64;
  });
  // A two-line status, a growing composer or a phone keyboard shrink it.
  new ResizeObserver(() => stick && scrollDown()).observe(scroller);
  const box = h("textarea", { id: "msg", rows: 1, maxlength: 4000, placeholder: L("placeholder"), oninput: onInput, onkeydown: onComposerKey });
  const sendBtn = h("button", { class: "send", type: "submit", "aria-label": L("send_message"), disabled: true }, icon("send"));
  // widget-files.js adds an attach button.
  const composer = h(
    "form",
    { class: "composer", onsubmit: (e) => { e.preventDefault(); sendMessage(); } },
    h("label", { class: "sr", for: "msg" }, T("message")),
    box,
    sendBtn
  );
  const newChatBtn = h("button", { class: "primary", onclick: newChat }, T("new_chat"));
  const comment = h("input", { maxlength: 1000, placeholder: L("comment_placeholder"), "aria-label": L("comment") });
  const rateForm = h(
    "form",
    { class: "row", onsubmit: (e) => { e.preventDefault(); rate(rated, clean(comment.value)); } },
    comment,
    h("button", { class: "primary", type: "submit" }, T("send"))
  );
  const rateBox = h("div", { class: "rate" });
  const endedBar = h("div", { class: "ended", hidden: true }, rateBox, newChatBtn);

  const views = {
    form: formView,
    offline: offlineView,
    sent: h("div", { class: "pre", role: "status" }, h("p", { class: "hi" }, T("sent_title")), sentText),
    chat: h("div", { class: "chat" }, scroller, confirmBar, composer, endedBar),
  };

  const notice = h("div", { class: "notice", role: "status", hidden: true });
  const main = h("div", { class: "main" });
  const win = h("div", { class: "win", id: "win", role: "dialog", "aria-labelledby": "title", tabindex: -1 }, head, h("div", { class: "body" }, notice, main));
  const root = h("div", { class: "root" + (script.dataset.position === "left" ? " left" : "") }, launcher, win);
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && isOpen) {
      e.stopPropagation();
      confirmBar.hidden ? toggle(false) : askEnd(false);
    }
  });

  function showView(name) {
    if (view !== name) main.replaceChildren(views[(view = name)]);
    updateChrome();
    scrollDown();
  }

  function focusView() {
    const first = { form: "name", offline: "oname" }[view];
    // On touch screens a focused field pops the keyboard over the conversation.
    if (!matchMedia("(hover: hover)").matches || view === "sent") win.focus();
    else if (first) fields[first].input.focus();
    else (composer.hidden ? newChatBtn : box).focus();
  }

  /** Where a visitor without a chat starts: the offline form while nobody can answer. */
  function home() {
    return available || chose ? "form" : "offline";
  }

  function toggle(open, quiet) {
    const hadFocus = win.contains(shadow.activeElement);
    if (open != isOpen) emit(open ? "open" : "close");
    isOpen = open;
    root.classList.toggle("open", open);
    renderLabels();
    launcher.setAttribute("aria-expanded", open);
    writeStore("sessionStorage", open || null); // stays open from page to page
    if (open && conn !== "blocked") connect();
    // Some contact centers (Omnidesk) like to know; only about a live chat.
    if (attached && (chatState === "queued" || chatState === "active")) send({ type: "widget", expanded: open });
    if (open) {
      scrollDown();
      if (!quiet) focusView();
    } else if (hadFocus) {
      launcher.focus();
    }
    markRead();
  }

  function updateChrome() {
    const ended = chatState === "ended" || !!(rec && rec.ended);
    const hadFocus = shadow.activeElement === box;
    endBtn.hidden = !(view === "chat" && rec && !ended);
    composer.hidden = ended;
    if (ended || view !== "chat") confirmBar.hidden = true;
    endedBar.hidden = !ended;
    if (ended && hadFocus) newChatBtn.focus();
    loadFiles();
  }

  /** Uploads are widget-files.js, loaded once a chat can take files. It gets the rest from the host's `widgetServerFiles`. */
  function loadFiles() {
    composer.classList.toggle("nofiles", !files);
    if (!files || filesJs || view !== "chat" || composer.hidden) return;
    const api = { url: HTTP + "attachments/" + encodeURIComponent(site), token: () => rec && rec.token, notice: showNotice };
    host.widgetServerFiles = Object.assign(api, { t, en: EN, bytes, style, rules: () => fileRules });
    shadow.append(h("script", { src: HTTP + "widget-files.js", nonce })); // not in the page's DOM
    filesJs = true;
  }

  function renderStatus() {
    let text = t("ended");
    let tone = "";
    if (!/^(open|idle)$/.test(conn) || (rec && !chatState)) {
      tone = "wait";
      text = t(conn === "offline" || navigator.onLine === false ? "offline" : conn === "reconnecting" ? "reconnecting" : "connecting");
    } else if (chatState === "queued") {
      tone = "wait";
      text = queuePos ? t("waiting_place", { n: queuePos }) : t("waiting");
    } else if (chatState === "active") {
      tone = "ok";
      text = agentName ? t("chatting", { name: agentName }) : t("chatting_agent");
    } else if (!chatState) {
      tone = available ? "ok" : "";
      text = t(available ? (replies in EN ? replies : "online") : "away");
    }
    statusText.textContent = text;
    dot.className = "dot " + tone;
    avatar.replaceChildren((chatState === "active" && agentName.trim().charAt(0).toUpperCase()) || chatIcon);
  }

  function renderLabels() {
    launcher.setAttribute("aria-label", t(isOpen ? "close" : "open"));
    title.textContent = siteName || t("chat");
    startBtn.disabled = !!starting;
    startBtn.textContent = t(starting ? "starting" : "start");
    offBtn.disabled = !!leaving;
    offBtn.textContent = t(leaving ? "sending" : "send_message");
  }

  function relabel() {
    for (const [el, attr, id, vars] of labels) attr ? el.setAttribute(attr, t(id)) : (el.data = t(id, vars));
    root.lang = lang;
    root.dir = /^(ar|he|fa|ur)$/.test(lang) ? "rtl" : "ltr"; // the launcher keeps its side
    for (const el of log.querySelectorAll("time")) el.replaceWith(timeEl(el.dateTime));
    renderLabels();
    renderLead();
    renderStatus();
    renderRate();
    updateBadge();
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), 6000);
  }

  function updateBadge() {
    const unread = isOpen ? 0 : agentSeqs.filter((seq) => seq > readSeq).length;
    if (unread != unreadSaid) emit("unread", (unreadSaid = unread));
    badge.hidden = !unread;
    badgeCount.textContent = unread > 9 ? "9+" : unread.toLocaleString(intl);
    unreadText.textContent = t("unread", { n: unread });
    if (unread) launcher.setAttribute("aria-describedby", "unread");
    else launcher.removeAttribute("aria-describedby");
  }

  function markRead() {
    if (isOpen && document.visibilityState === "visible" && lastSeq > readSeq) {
      readSeq = lastSeq;
      persist();
    }
    updateBadge();
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  // --- the transcript

  /** Insert in seq order: the visitor's messages not yet stored stay below. */
  function place(el, atEnd) {
    const before = atEnd ? null : log.querySelector(".pending");
    const prev = before ? before.previousElementSibling : log.lastElementChild;
    el.classList.toggle("cont", !!(prev && el.dataset.who && prev.dataset.who === el.dataset.who));
    el.classList.toggle("new", atEnd || lastSeq > historySeq);
    log.insertBefore(el, before);
    if (stick || atEnd) scrollDown();
  }

  /** Ours (a string id) or the contact center's text. */
  function system(id, at, vars) {
    place(h("p", { class: "sys" }, id in EN ? T(id, vars) : id, " · ", timeEl(at)));
  }

  function bubble(mine, name, body, at) {
    return h(
      "div",
      { class: "msg " + (mine ? "me" : "agent"), "data-who": mine ? "me" : "agent:" + name },
      !mine && h("span", { class: "who" }, name || T("agent")),
      h("div", { class: "bubble" }, body),
      h("div", { class: "meta" }, timeEl(at))
    );
  }

  function onEvent(ev) {
    if (typeof ev.seq !== "number" || ev.seq <= lastSeq) return; // on screen already
    lastSeq = ev.seq;
    const fresh = ev.seq > historySeq; // not shown before this page: news for the host page
    if (ev.kind === "message" || ev.kind === "attachment") {
      if (fresh) emit("message", { from: ev.from, name: ev.name || "", text: String(ev.text || (ev.file || {}).name || ""), at: ev.at });
      onMessage(ev);
    } else if (ev.kind === "state") {
      setState(ev.state, ev.position);
      if (ev.state === "queued" && !agentName) system("started", ev.at); // not again after a transfer to a team
      if (ev.state === "ended") {
        system("ended", ev.at);
        if (fresh) emit("chat-ended", { chat: rec && rec.chat, at: ev.at });
      }
    } else if (ev.kind === "joined" || ev.kind === "left") {
      if (ev.kind === "joined") agentName = ev.name || agentName;
      system(ev.name ? ev.kind : ev.kind + "_agent", ev.at, { name: ev.name });
    } else if (ev.kind === "rating") {
      given = { rating: ev.rating, comment: ev.comment };
      if (rec) rec.rating = given; // shown at once on the next page
      if (rateFrame && rateFrame.rating === ev.rating && rateFrame.comment == ev.comment) rateFrame = null;
      renderRate();
    } else if (ev.kind === "greeting") {
      place(bubble(false, ev.name, richText(String(ev.text || "")), ev.at)); // the greeting the chat began with
    } // "visit" is for the agent; unknown kinds from a newer server are skipped
    renderStatus();
    if (isOpen && document.visibilityState === "visible") readSeq = lastSeq;
    updateBadge();
    // Batched: a replay brings many events. Urgent writes happen elsewhere.
    clearTimeout(persistTimer);
    persistTimer = setTimeout(persist, 250);
  }

  function onMessage(ev) {
    const text = String(ev.text || "");
    const file = ev.kind === "attachment" && (ev.file || {});
    if (!file && ev.from === "system") return system(text, ev.at);
    const mine = ev.from === "visitor";
    const own = mine && ev.id && outbox.get(ev.id);
    if (own) return own.failed || stored(own, ev.at, ev.seq); // ours, on screen already
    if (ev.id) {
      if (shownIds.has(ev.id)) return;
      shownIds.add(ev.id);
    }
    if (!mine) {
      hideTyping();
      agentSeqs.push(ev.seq);
      agentName = ev.name || agentName;
    }
    if (!mine && ev.seq > historySeq) alertHidden();
    place(Object.assign(bubble(mine, ev.name, file ? fileLink(file) : richText(text), ev.at), { seq: ev.seq }));
    renderSeen();
  }

  function fileLink(f) {
    const url = String(f.url || ""); // a path on our server, valid for an hour
    const name = String(f.name || "file");
    const size = bytes(f.size);
    return h(
      "a",
      { class: "file", href: /^\/\w/.test(url) && HTTP + url.slice(1), target: "_blank", rel: "noopener noreferrer", download: name },
      icon("file"),
      h("span", null, name),
      h("small", null, " " + size)
    );
  }

  function setState(state, position) {
    chatState = state;
    if (position) queuePos = position;
    if (state === "ended") {
      if (rec && !rec.ended) {
        rec.ended = true;
        rec.endedAt = Date.now();
      }
      hideTyping();
      for (const m of outbox.values()) if (!m.failed) fail(m);
      for (const button of log.querySelectorAll("button.retry")) button.replaceWith(h("span", { class: "retry" }, T("not_sent")));
    }
    updateChrome();
  }

  function resetChat() {
    seen.remove(); // first: its label is kept
    seenSeq = 0;
    for (let i = labels.length; i--; ) if (log.contains(labels[i][0])) labels.splice(i, 1);
    log.replaceChildren();
    outbox.clear();
    shownIds.clear();
    agentSeqs.length = lastSeq = queuePos = 0;
    chatState = null;
    agentName = rated = "";
    pendingEnd = commented = false;
    given = rateFrame = null;
    comment.value = "";
    renderRate();
    hideTyping();
  }

  /** The stored chat is gone for good: dismissed, or refused by the server. */
  function forget() {
    rec = null;
    attached = false;
    writeStore("localStorage", null);
    resetChat();
    historySeq = readSeq = 0;
    showView(home());
    renderStatus();
    updateBadge();
  }

  function persist() {
    if (!rec) return;
    // Other tabs write it too: keep the furthest any got.
    const saved = readStore("localStorage");
    const same = saved && saved.chat === rec.chat;
    rec.lastSeq = Math.max(lastSeq, same ? saved.lastSeq || 0 : 0);
    readSeq = rec.readSeq = Math.max(readSeq, same ? saved.readSeq || 0 : 0);
    rec.pending = [...outbox.values()].filter((m) => !m.failed); // `el` is saved as {}
    writeStore("localStorage", rec);
  }

  // --- the visitor's messages

  /** The server refuses control characters but newlines and tabs. */
  function clean(text) {
    return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "").trim();
  }

  function sendMessage() {
    const text = clean(box.value);
    if (!text || !rec || chatState === "ended") return;
    box.value = "";
    onInput();
    stopTyping();
    queueMessage({ id: newId(), text, at: new Date().toISOString() });
  }

  /** Shown as pending at once; sent now or after the next `welcome`. */
  function queueMessage(m) {
    m.el = bubble(true, "", richText(m.text), m.at);
    m.el.classList.add("pending");
    outbox.set(m.id, m);
    place(m.el, true);
    persist();
    if (attached) send({ type: "say", id: m.id, text: m.text });
  }

  function stored(m, at, seq) {
    m.el.seq = seq;
    outbox.delete(m.id);
    shownIds.add(m.id);
    m.el.classList.remove("pending");
    if (at) m.el.querySelector("time").replaceWith(timeEl(at));
    // Into seq order; most often it is there already.
    if (m.el.nextElementSibling !== log.querySelector(".pending")) place(m.el);
    renderSeen();
    persist();
  }

  function fail(m, canRetry) {
    m.failed = true;
    m.el.classList.replace("pending", "failed");
    m.el.lastChild.append(
      canRetry
        ? h("button", { class: "retry", onclick: () => retry(m) }, T("retry"))
        : h("span", { class: "retry" }, T("not_sent"))
    );
    persist();
  }

  function retry(m) {
    m.el.remove();
    outbox.delete(m.id);
    // A fresh id: the first was refused, so this is a new message, not a repeat.
    if (rec && chatState !== "ended") queueMessage({ id: newId(), text: m.text, at: new Date().toISOString() });
    box.focus();
  }

  function onComposerKey(e) {
    // Enter sends, Shift+Enter is a newline; never while an input method is composing.
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendMessage();
    }
  }

  function onInput() {
    box.style.height = "auto"; // CSSOM: not blocked by the page's CSP
    box.style.height = Math.min(box.scrollHeight + 2, 132) + "px";
    sendBtn.disabled = !box.value.trim();
    if (sendBtn.disabled) return stopTyping();
    if (!rec || rec.ended || !attached) return;
    // "typing" at most every 3 s while typing; "stopped" after 4 s idle.
    if (Date.now() - typingSentAt > 3000) {
      typingSentAt = Date.now();
      send({ type: "typing", active: true });
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingSentAt && attached && rec && !rec.ended) send({ type: "typing", active: false });
    typingSentAt = 0;
  }

  function showTyping(f) {
    if (!f.active) return hideTyping();
    clearTimeout(typingHide);
    typingText.textContent = t("typing", { name: f.name || agentName || t("agent") });
    typing.hidden = false;
    if (stick) scrollDown();
    typingHide = setTimeout(hideTyping, 10000); // in case "stopped" is lost
  }

  function hideTyping() {
    clearTimeout(typingHide);
    typing.hidden = true;
  }

  // --- read receipts: "Seen" under the visitor's last message an agent has read (the `read` frame)

  const seen = h("span", { class: "seen" }, T("seen"));
  let seenSeq = 0;

  function renderSeen() {
    let last = null;
    for (const el of log.querySelectorAll(".me")) if (el.seq <= seenSeq) last = el;
    if (last) last.lastChild.append(seen);
    else seen.remove();
  }

  // --- a message while the tab is hidden (hello.notify): a chime, and "(2) " before the page's title

  let notify = false;
  let audio = null;
  let alerts = 0;
  let ownTitle = "";
  let baseTitle = "";

  function alertHidden() {
    if (!notify || document.visibilityState === "visible") return;
    if (document.title !== ownTitle) baseTitle = document.title; // the page's, maybe changed meanwhile
    document.title = ownTitle = "(" + ++alerts + ") " + baseTitle;
    if (!audio) return; // no click or key in the widget yet: browsers allow no sound before one
    // A soft bell from an oscillator (Web Audio, as the console's static/agent/notify.js): no audio file.
    const at = audio.currentTime;
    const bell = audio.createOscillator();
    const gain = audio.createGain();
    bell.frequency.value = 880;
    gain.gain.setValueAtTime(1e-4, at);
    gain.gain.exponentialRampToValueAtTime(0.15, at + 0.01);
    gain.gain.exponentialRampToValueAtTime(1e-4, at + 0.5);
    bell.connect(gain).connect(audio.destination);
    bell.start(at);
    bell.stop(at + 0.55);
  }

  /** Seen: the page's title back, if it is still ours. */
  function unalert() {
    if (alerts && document.title === ownTitle) document.title = baseTitle;
    alerts = 0;
  }

  /** Sound needs a gesture: the AudioContext is made on the first click or key in the widget. */
  function unlockAudio() {
    try {
      if (notify && !audio) audio = new AudioContext();
    } catch (e) {
      /* no Web Audio: the title still tells */
    }
  }

  function endChat() {
    if (!rec || chatState === "ended") return;
    if (!send({ type: "end" })) pendingEnd = true;
  }

  function newChat() {
    forget();
    fields.subject.input.value = "";
    fields[view === "form" ? "name" : "oname"].input.focus();
  }

  // --- the rating of an ended chat

  function rate(rating, text) {
    rated = rating;
    commented = !!text;
    rateFrame = { type: "rate", rating, id: newId() }; // the same frame again after a reconnect counts once
    if (text) rateFrame.comment = text;
    if (attached) send(rateFrame); // or after the next `welcome`
    renderRate();
    if (commented) newChatBtn.focus();
    else if (matchMedia("(hover: hover)").matches) comment.focus(); // no keyboard popping up on phones
  }

  function renderRate() {
    const r = given ? given.rating : rated;
    const thumb = (r, attrs, ...label) => h(attrs ? "button" : "span", { class: "thumb " + r, ...attrs }, icon("thumb"), ...label);
    const parts = [
      h(
        "div",
        { class: "rq" },
        t(r ? "rated" : "rate_question"),
        ...(r ? [thumb(r, null, t(r))] : ["good", "bad"].map((v) => thumb(v, { "aria-label": t(v), onclick: () => rate(v) })))
      ),
      given && given.comment && h("q", null, given.comment),
      rated && h("p", { role: "status" }, t("thanks")),
      rated && !commented && rateForm,
    ];
    const typing = shadow.activeElement === comment;
    rateBox.replaceChildren(...parts.filter((part) => part));
    if (typing) comment.focus(); // the rating's own event re-renders the box while the visitor types
  }

  // --- the pre-chat form

  // Per field: max length, the message when required and empty, whether it is an email.
  const NAME = [64, "need_name"];
  const RULES = { name: NAME, email: [254, "", 1], subject: [200], oname: NAME, oemail: [254, "need_email", 1], omsg: [4000, "need_message"] };

  function validate(name) {
    const value = fields[name].input.value.trim();
    const [max, required, email] = RULES[name];
    const message = !value ? required || ""
      : email && !/^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(value) ? "bad_email"
      : value.length > max ? "too_long" : "";
    setFieldError(name, message && t(message));
    return !message;
  }

  function setFieldError(name, message) {
    const { input, err } = fields[name];
    err.textContent = message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function submitForm(e) {
    e.preventDefault();
    if (starting) return;
    const invalid = ["name", "email", "subject"].filter((name) => !validate(name));
    if (invalid.length) return fields[invalid[0]].input.focus();
    const value = (name) => fields[name].input.value.trim();
    // The id: a start repeated (the socket dropped before `welcome`) gets the same chat.
    starting = { type: "start", id: newId(), nickname: value("name"), subject: value("subject") };
    if (value("email")) starting.email = value("email");
    if (identity) starting.identity = identity;
    if (Object.keys(attrs).length) starting.userData = { ...attrs };
    update = null; // the start says it all
    if (visitorToken()) starting.visitor = visitorToken();
    if (!teamField.hidden) starting.team = fields.team.input.value;
    starting.greeting = takeGreeting();
    if (/^https?:/.test(location.href) && location.href.length <= 2048) starting.page = location.href;
    renderLabels();
    send(starting); // or on the next open socket
  }

  function leaveMessage(e) {
    e.preventDefault();
    if (leaving) return;
    const invalid = ["oname", "oemail", "omsg"].filter((name) => !validate(name));
    if (invalid.length) return fields[invalid[0]].input.focus();
    const value = (name) => clean(fields[name].input.value);
    // Sent again with the same id until acked: the server stores it once.
    leaving = { type: "leave_message", id: newId(), name: value("oname"), email: value("oemail"), message: value("omsg") };
    if (/^https?:/.test(location.href) && location.href.length <= 2048) leaving.page = location.href;
    if (visitorToken()) leaving.visitor = visitorToken();
    leaving.greeting = takeGreeting();
    offErr.textContent = "";
    renderLabels();
    send(leaving); // or on the next open socket
  }

  function leaveDone() {
    leaving = null;
    renderLabels();
  }

  /** "We're back Monday at 09:00." in the visitor's language and time zone. */
  function backAt() {
    const at = new Date(opensAt);
    const wait = at - Date.now();
    const days = Math.round((new Date(at).setHours(0, 0, 0, 0) - new Date().setHours(0, 0, 0, 0)) / 864e5);
    if (wait < 3540e3) return t("back_minutes", { n: Math.max(1, Math.ceil(wait / 60e3)) });
    const time = at.toLocaleTimeString(intl, { hour: "2-digit", minute: "2-digit" });
    if (days < 2) return t(days ? "back_tomorrow" : "back_today", { time });
    const day = at.toLocaleDateString(intl, days > 6 ? { weekday: "long", month: "long", day: "numeric" } : { weekday: "long" });
    return t("back_on", { day, time });
  }

  function renderLead() {
    offLead.textContent = opensAt ? t("back_lead", { back: backAt() }) : t(closed ? "closed_lead" : "offline_lead");
  }

  function startDone() {
    starting = null;
    renderLabels();
  }

  // --- the connection

  function send(frame) {
    if (!frame || !ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    let opened = false;
    const sock = (ws = new WebSocket(WS_URL));
    sock.onopen = () => {
      if (ws !== sock) return;
      opened = everOpened = true;
      attempts = 0;
      conn = "open";
      root.hidden = false;
      renderStatus();
      clearInterval(pingTimer);
      pingTimer = setInterval(ping, 25000);
      if (rec) send({ type: "resume", token: rec.token, after: lastSeq });
      else send(starting || leaving);
      earlier();
    };
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      clearTimeout(pongTimer); // any frame proves the connection alive
      receive(e.data);
    };
    sock.onclose = (e) => ws === sock && lost(opened, e);
  }

  // A page view that may never chat asks over HTTP; the socket opens with the widget or a chat.
  function peek() {
    fetch(HELLO, { credentials: "omit" })
      .then((r) => (r.status === 403 ? blocked() : r.json().then((f) => ws || ((conn = "idle"), (root.hidden = false), onHello(f)))))
      .catch(connect); // the server or the network failed: the socket retries with backoff
  }

  function blocked() {
    // Refused: almost always an origin the site does not allow. Stay out of sight.
    if (conn !== "blocked") console.info("widget_server: chat refused on this page; retrying in 5 minutes");
    conn = "blocked";
    root.hidden = true;
    retryTimer = setTimeout(() => (rec || isOpen ? connect() : peek()), 300000);
  }

  // A restart (1012): its reason is the retry window, {"retry":[min,max]} ms.
  function restartWindow(e) {
    if (!e || e.code !== 1012) return null;
    try {
      const w = JSON.parse(e.reason).retry;
      if (w[0] >= 0 && w[1] >= w[0] && w[1] <= 6e4) return w;
    } catch (err) {}
    return [1000, 5000];
  }

  function lost(opened, closed) {
    const sock = ws;
    ws = null;
    attached = false;
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    sock.onclose = sock.onmessage = null;
    sock.close();
    hideTyping();
    if (!opened && !everOpened && !rec) return blocked(); // refused at once
    // Jitter: a restarted server is not hit by everyone at once.
    const w = restartWindow(closed);
    const delay = w ? w[0] + Math.random() * (w[1] - w[0]) : Math.min(30000, 500 * 2 ** attempts) * (0.5 + Math.random() / 2);
    if (!attempts++) lostAt = Date.now();
    conn = Date.now() - lostAt > 10000 ? "offline" : "reconnecting";
    renderStatus();
    retryTimer = setTimeout(connect, delay);
  }

  function ping() {
    if (!send({ type: "ping" })) return;
    clearTimeout(pongTimer);
    // A phone that slept or a dead NAT leaves a socket that never closes.
    pongTimer = setTimeout(() => ws && lost(true), 10000);
  }

  /** Online or visible again: reconnect now, or check the socket. */
  function wake() {
    if (conn === "blocked") return;
    if (ws) ping();
    else if (rec || isOpen) connect();
    else peek();
  }

  function receive(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!f) return;
    if (f.type === "hello") {
      onHello(f);
    } else if (f.type === "welcome") {
      onWelcome(f);
    } else if (f.type === "event") {
      onEvent(f);
    } else if (f.type === "ack") {
      const m = outbox.get(f.id);
      if (m && !m.failed) stored(m, 0, f.seq);
      if (leaving && f.id === leaving.id) {
        keepVisitor(f.visitor);
        sentText.textContent = t("sent_text", { email: leaving.email }) + (opensAt ? " " + backAt() : "");
        leaveDone();
        offlineView.reset();
        showView("sent");
        if (isOpen) win.focus();
      }
    } else if (f.type === "read") {
      if (f.seq > seenSeq) seenSeq = f.seq;
      renderSeen();
    } else if (f.type === "queue") {
      queuePos = f.position;
      renderStatus();
    } else if (f.type === "typing") {
      showTyping(f);
    } else if (f.type === "error") {
      onError(f);
    } else if (/^(earlier|transcript)$/.test(f.type)) {
      toEarlier(f);
    }
  }

  function onHello(f) {
    available = f.available !== false;
    opensAt = !available && f.opensAt && !isNaN(new Date(f.opensAt)) ? f.opensAt : null;
    siteName = f.name;
    words = { locale: f.locale, strings: f.strings };
    rules = f.greetings || [];
    const teams = f.teams || [], pickTeam = fields.team.input;
    if (!pickTeam.length) pickTeam.append(...teams.map((t) => h("option", { value: t.id }, String(t.name)))); // once: a choice made stays
    teamField.hidden = teams.length < 2;
    if (rec) Object.assign(rec, { name: f.name, words }); // for the next page
    note.hidden = available;
    notify = !!f.notify;
    replies = "reply_" + f.replies; // "Usually replies in a few minutes": reply_minutes, _hour, _hours, _day
    files = (f.capabilities || []).includes("attachments");
    fileRules = f.files || {};
    loadFiles();
    closed = f.reason === "hours";
    // Outside business hours nobody comes for hours; an agent may log in any minute.
    anyway.hidden = closed || !!opensAt;
    // A stored chat wins; so does a form the visitor has begun (after a reconnect).
    const typed = [...main.querySelectorAll("input,textarea")].some((el) => el.value);
    if (!rec && !starting && !leaving && !typed && /^(form|offline)$/.test(view)) showView(home());
    renderLabels();
    renderLead();
    renderStatus();
    // The launcher shows once the form it opens is known, in its language.
    localize(words).then(() => root.classList.add("ready"));
  }

  function onWelcome(f) {
    const fresh = starting;
    attached = true;
    keepVisitor(f.visitor);
    if (starting) {
      startDone();
      resetChat();
      historySeq = readSeq = 0;
      rec = { chat: f.chat, url: (lastUrl = location.href) };
      showView("chat");
      if (isOpen) focusView();
    }
    if (!rec) return;
    rec.token = f.token; // fresh each time, with a fresh maximum age
    rec.chat = f.chat;
    persist();
    if (pendingEnd) send({ type: "end" });
    pendingEnd = false;
    send(rateFrame);
    resend();
    sendUpdate();
    if (firstText && fresh) queueMessage({ id: newId(), text: clean(firstText), at: new Date().toISOString() });
    firstText = "";
  }

  /** Typed while disconnected, or never acked: the same id makes a repeat harmless. */
  function resend() {
    if (attached) for (const m of outbox.values()) if (!m.failed) send({ type: "say", id: m.id, text: m.text });
  }

  function onError(f) {
    if (f.field === "identity") {
      // The site's signing is broken: its developers hear why, the visitor chats on unverified.
      warn(f.message);
      identity = null;
      earlier();
      return starting && delete starting.identity && send(starting);
    }
    if (leaving && f.id === leaving.id) {
      const name = { name: "oname", email: "oemail", message: "omsg" }[f.field];
      leaveDone();
      if (name) return setFieldError(name, said(f));
      offErr.textContent = said(f);
      return;
    }
    const m = f.id && outbox.get(f.id);
    if (m && !m.failed) fail(m, f.code !== "chat_ended");
    if (f.code === "rate_limited" && !m) setTimeout(resend, 3000); // frames were dropped unseen
    if (rec && (f.code === "invalid_token" || f.code === "not_started")) {
      forget(); // expired or unknown: a new chat starts from the form
      return;
    }
    if (rec && f.code === "invalid_field" && f.field === "after") {
      // Our transcript is ahead of the server's log: start again from the beginning.
      const pending = [...outbox.values()].filter((p) => !p.failed);
      resetChat();
      pending.forEach(queueMessage);
      send({ type: "resume", token: rec.token, after: 0 });
      return;
    }
    if (f.field == "userData" || (!starting && f.field == "email")) {
      // The host page's set(): its mistake to see, not the visitor's; the chat starts without it.
      warn(f.message);
      if (starting) {
        delete starting.userData;
        attrs = {};
        send(starting);
      }
      return;
    }
    if (starting) {
      const name = { nickname: "name", email: "email", subject: "subject" }[f.field];
      startDone();
      if (name) return setFieldError(name, said(f));
    } else if (f.code === "chat_ended" && !m) {
      return; // typing or a visit racing the end: the `state` event says it
    }
    showNotice(said(f));
  }

  function said(f) {
    const id = GENERAL.includes(f.code) ? "error" : "error_" + f.code;
    return id in EN ? t(id) : f.message || t("error");
  }

  function checkUrl() {
    const url = location.href;
    if (url === lastUrl) return;
    if (!rec || rec.ended) {
      lastUrl = url;
    } else if (attached && /^https?:/.test(url) && url.length <= 2048) {
      send({ type: "visit", url });
      lastUrl = rec.url = url;
      persist();
    }
  }

  /** Another tab started a chat: show it here too, live. */
  function onStorage(e) {
    if (e.key !== KEY && e.key !== null) return;
    const other = readStore("localStorage");
    if (!other || !other.token || starting) return; // forgotten there: our socket reports on ours
    if (rec && other.chat === rec.chat) {
      readSeq = Math.max(readSeq, other.readSeq || 0);
      return updateBadge();
    }
    resetChat();
    rec = other;
    historySeq = other.lastSeq || 0;
    readSeq = other.readSeq || 0;
    lastUrl = location.href;
    showView("chat");
    renderStatus();
    attached = false;
    if (!send({ type: "resume", token: rec.token, after: 0 }) && conn !== "blocked") connect();
  }

  // --- a verified visitor's earlier chats: widget-earlier.js, loaded with the first list. It takes the
  // rest from the host's `widgetServerEarlier`: the frames in `q` (then `on()`), and what it draws with.

  function earlier() {
    identity ? send({ type: "earlier", identity }) : toEarlier({ type: "earlier", chats: [] });
  }

  function toEarlier(f) {
    const x = host.widgetServerEarlier;
    if (x) return x.q.push(f) && x.on && x.on();
    if (!f.chats || !f.chats.length) return;
    host.widgetServerEarlier = { q: [f], at: main, t, en: EN, h, style, bubble, richText, cur: () => rec && rec.chat, ask: (chat) => identity && send({ type: "transcript", identity, chat }) };
    shadow.append(h("script", { src: HTTP + "widget-earlier.js", nonce }));
  }

  // --- the host page's API (docs/embedding.md, "JavaScript API"), Intercom and Crisp style:
  // WidgetServer("open"), WidgetServer("on", "message", fn). A bad call warns once, never throws.

  const listeners = {}; // event -> [fn]
  const warned = new Set();
  const EVENTS = ["ready", "open", "close", "message", "unread", "chat-ended"];
  let isReady = false;
  let attrs = {}; // set({attributes}): the next start's userData
  let update = null; // set() during a chat: the `update` frame not yet sent
  let firstText = ""; // start({message}): the new chat's first message
  let forced = ""; // locale(code)
  let unreadSaid = 0;
  let identity = null; // identify(): sent with `start`, and `earlier` to list the visitor's chats

  /** What set() changed, to the chat under way (now, or after the next `welcome`). */
  function sendUpdate() {
    if (rec && !rec.ended && attached && update && send(update)) update = null;
  }

  function warn(text) {
    if (!warned.has(text)) console.warn("widget_server: " + text);
    warned.add(text);
  }

  /** Tell the host page's listeners; what one of them throws stays theirs. */
  function emit(name, data, fns = listeners[name] || []) {
    for (const fn of fns) {
      try {
        fn(data);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** A command's bad argument: `text` says what it takes. */
  function need(ok, text) {
    if (!ok) throw text;
  }

  // The command table: WidgetServer(name, ...args) runs commands[name](...args).
  // Other parts add their entry here: `identify` (verified identities), `greet` (proactive greetings).
  const commands = {
    open: () => toggle(true),
    close: () => toggle(false),
    toggle: () => toggle(!isOpen),
    hide: () => (launcher.hidden = true), // a page with its own button: open, close still work
    show: () => (launcher.hidden = false),
    /** The visitor's name and email (into the forms) and attributes (with `start`; to a chat under way at once). */
    set(info) {
      const a = (info && info.attributes) || {};
      need(
        info &&
          typeof info == "object" &&
          typeof a == "object" &&
          ["name", "email", "subject", "message"].every((k) => info[k] == null || typeof info[k] == "string") &&
          Object.values(a).every((v) => v == null || /^(string|number|boolean)$/.test(typeof v)),
        "takes {name, email, subject, message: strings, attributes: {key: a string, number or boolean}}"
      );
      update = update || { type: "update" }; // the name stays the chat's (GWS cannot change it either)
      for (const k of ["name", "email"]) if (info[k] != null) fields[k].input.value = fields["o" + k].input.value = info[k];
      if (info.email) update.email = info.email;
      for (const k in a) a[k] == null ? delete attrs[k] : (attrs[k] = a[k]);
      if (info.attributes) update.userData = Object.assign(update.userData || {}, a);
      sendUpdate();
    },
    /** A new chat with the visitor's details; the message is its first. Under way already: opened, message prefilled. */
    start(info) {
      commands.set((info = info || {}));
      if (info.subject != null) fields.subject.input.value = info.subject;
      if (rec && rec.ended) forget();
      toggle(true);
      if (rec) return info.message && ((box.value = info.message), onInput());
      firstText = info.message || "";
      chose = true;
      showView("form");
      if (fields.name.input.value.trim()) formView.requestSubmit();
    },
    /** The visitor as the site's backend signed them (docs/embedding.md, "Verified identities"); null: nobody. */
    identify(info) {
      need(
        info === null || (info && typeof info.id == "string" && typeof info.signature == "string" && info.expires > 0),
        "takes {id, email, expires, signature} as your backend signed them (and name), or null"
      );
      identity = info && { id: info.id, email: info.email || "", expires: info.expires, signature: info.signature };
      earlier();
      if (info) commands.set({ name: info.name, email: info.email || null }); // the forms, filled in
    },
    /** One of LOCALES, before data-locale and the page's lang. */
    locale(code) {
      need(LOCALES.includes(String(code).toLowerCase().split(/[-_]/)[0]), "takes a language: " + LOCALES);
      forced = code;
      localize(words);
    },
    /** A greeting of the page's own beside the launcher, now: stored marked as the page's if answered. */
    greet(g) {
      need(g && typeof g.text == "string" && g.text.trim(), "takes {text, from, offline}");
      showGreeting({ text: clean(g.text).slice(0, 1000), from: g.from && String(g.from).slice(0, 64), offline: g.offline });
      greetTick();
    },
    on(name, fn) {
      need(EVENTS.includes(name) && typeof fn == "function", "takes an event (" + EVENTS + ") and a function");
      (listeners[name] = listeners[name] || []).push(fn);
      if (name == "ready" && isReady) emit(name, undefined, [fn]); // too late to hear it: now
    },
    off(name, fn) {
      listeners[name] = (listeners[name] || []).filter((f) => f !== fn);
    },
  };

  function api(name, ...args) {
    const ignored = (why) => warn("WidgetServer(" + JSON.stringify(name) + ") ignored: " + why);
    if (!commands.hasOwnProperty(name)) return ignored("no such command");
    try {
      commands[name](...args);
    } catch (e) {
      ignored(e);
    }
  }

  // --- proactive greetings (docs/embedding.md, "Proactive greetings"): hello's rules (widget_server/greetings.py),
  // matched against the page's address. The first one not seen lately shows beside the launcher after its
  // seconds on the page, while someone can answer (or with `offline`), once per rule per `days` in this
  // browser (GREETED: rule id -> when shown). Stored only if answered: `start` names the rule.

  const GREETED = KEY + ":greeted";
  let rules = []; // hello.greetings
  let greeting = null; // the bubble's: a rule, or the page's {text, from, offline}
  let answered = null; // the greeting the visitor opened the widget from, until a `start` takes it
  let greetMsg = h("i"); // that greeting, in the widget above its form
  let pageUrl = location.href;
  let pageAt = Date.now() - performance.now(); // the page's load, or an app's last change of address
  const shownHere = {}; // rule ids shown on this page view
  const greetFrom = h("small");
  const greetText = h("span");
  const greetBox = h(
    "div",
    { class: "greet", hidden: true },
    h("button", { class: "gtext", onclick: answer }, greetFrom, greetText),
    h("button", { class: "gx", "aria-label": L("dismiss"), onclick: () => ((greeting = null), (greetBox.hidden = true)) }, "×")
  );

  function greeted(seen) {
    try {
      if (seen) localStorage.setItem(GREETED, JSON.stringify(seen));
      return JSON.parse(localStorage.getItem(GREETED)) || {};
    } catch (e) {
      return {};
    }
  }

  /** A rule's page patterns: "*" is any run of characters; "/…" is the path (and query, with a "?"), else the address. */
  function matches(pages) {
    const { pathname, search, href } = location;
    return pages.some((p) =>
      RegExp("^" + p.split("*").map((x) => x.replace(/\W/g, "\\$&")).join(".*") + "$").test(
        p[0] == "/" ? pathname + (p.includes("?") ? search : "") : href.split("#")[0]
      )
    );
  }

  const canGreet = (g) => g && !answered && !rec && !isOpen && !launcher.hidden && (available || g.offline);

  function greetTick(now = Date.now()) {
    if (location.href != pageUrl) (pageUrl = location.href), (pageAt = now);
    const r = !greeting && rules.find((r) => !shownHere[r.id] && matches(r.pages) && !(now - greeted()[r.id] < r.days * 864e5));
    if (canGreet(r) && now - pageAt >= r.after * 1e3) {
      shownHere[r.id] = now;
      greeted({ ...greeted(), [r.id]: now }); // kept in this browser for the rule's `days`
      showGreeting(r);
    }
    greetBox.hidden = !canGreet(greeting);
  }
  setInterval(greetTick, 400);

  function showGreeting(g) {
    root.append(greetBox); // in the page only once there is a greeting (no empty control before)
    greeting = g;
    greetFrom.textContent = g.from = g.from || siteName;
    greetText.textContent = g.text;
  }

  /** Clicked: the greeting goes above the form (the offline one, when nobody can answer) and with its frame. */
  function answer() {
    answered = greeting;
    greetBox.hidden = true;
    greetMsg.remove();
    views[home()].firstChild.after((greetMsg = bubble(false, greeting.from, richText(greeting.text))));
    toggle(true);
  }

  /** For `start` or `leave_message`: the answered rule's id, or the page's own words. */
  function takeGreeting() {
    const g = answered;
    answered = null;
    greetMsg.remove();
    return g && (g.id || g); // the page's: {text, from}
  }

  // --- start

  const host = document.createElement(TAG);
  const shadow = host.attachShadow({ mode: "open" });

  /** Styles for the shadow root (this file's, and the lazily loaded parts' through their `style`): a
   * constructed stylesheet escapes the page's style-src; where there is none, a <style> with the nonce. */
  function style(css) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      if ("adoptedStyleSheets" in shadow) return void (shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet]);
    } catch (e) {
      /* no constructed stylesheets in this browser */
    }
    shadow.append(h("style", { nonce }, css));
  }

  function mount() {
    if (document.querySelector(TAG)) return; // loaded twice
    style(CSS_TEXT);
    shadow.append(root);
    document.body.append(host);

    // The site's colour, kept readable in the dark theme (brand()), now and when the system switches.
    const rgb = (getComputedStyle(launcher).backgroundColor.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    const dark = matchMedia("(prefers-color-scheme: dark)");
    (dark.onchange = () => brand(rgb, dark.matches))();
    root.addEventListener("pointerdown", unlockAudio);
    root.addEventListener("keydown", unlockAudio);

    if (rec) {
      siteName = rec.name;
      given = rec.rating;
      renderRate();
      showView("chat");
      (rec.pending || []).forEach(queueMessage); // typed before a reload, never stored
      root.classList.add("ready"); // accepted before: show the chat while connecting
      if (readStore("sessionStorage")) toggle(true, true);
    } else {
      showView("form");
    }
    renderLabels();
    renderStatus();
    if (rec) connect();
    else peek();
    setInterval(() => {
      renderLead(); // "in 5 minutes" counts down
      ws || conn === "blocked" || document.visibilityState !== "visible" || peek();
    }, 60000);

    addEventListener("online", wake);
    addEventListener("offline", () => (ws ? ping() : renderStatus()));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        wake();
        markRead();
        unalert();
      }
    });
    addEventListener("storage", onStorage);
    // Page changes of single-page apps, without patching history.
    addEventListener("popstate", checkUrl);
    addEventListener("hashchange", checkUrl);
    setInterval(checkUrl, 1000);

    // The real API replaces the stub (ours or the page's) and runs what waited in its queue.
    const queued = (window.WidgetServer || stub).q || stub.q || [];
    window.WidgetServer = api;
    for (const args of queued) api(...args);
    isReady = true;
    emit("ready");
  }

  // Nothing shows before it speaks its language.
  localize(words).then(() => (document.body ? mount() : document.addEventListener("DOMContentLoaded", mount)));
})();
