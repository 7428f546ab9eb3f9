/* Never miss a visitor: a chime and a desktop notification for a new waiting chat, and for a visitor's
 * message in a chat of mine that the agent is not looking at (the tab hidden or in the background, or
 * another chat open); each can be turned off, per agent (settings.js shows the switches).
 *
 * Only for what arrives while the agent is here. `heard` holds, for every chat this console knows, the
 * last seq it has accounted for: the first hello sets it to each chat's lastSeq (all of that existed
 * before the page), a chat that appears later starts from the lastSeq its summary has, and an event
 * counts once whichever way it comes (live, or in the history that catches a transcript up after a
 * reconnect). So a reload or a reconnect's hello replays nothing, and what came during a disconnect is
 * still news. The unread counts are chats.js's and lists.js's; this module only tells.
 *
 * Browsers let a page make a sound only after a user gesture: the AudioContext is made on the agent's
 * first click or key press in the page (and suspended between chimes); until then a chime is skipped
 * and the desktop notification keeps the system's own sound. Permission for desktop notifications is
 * asked only from the settings (their button, or turning the switch on): a prompt that comes out of the
 * blue on some click gets answered "Block", and a page can never ask again.
 *
 * A new waiting chat calls only an agent who is online: away or offline, they take no new chats, so
 * neither the chime nor the desktop notification comes (the title still counts the queue). A message in
 * a chat of theirs, or in one they joined silently (a supervisor), still does. */

import { isMessage, isMineActive, isVisible, isWatching, nickname, siteName } from "./chats.js";
import { handlers } from "./handlers.js";
import { state } from "./state.js";
import { myStatus } from "./status.js";

var CHIME_GAP = 1500; // ms: a burst of arrivals chimes once
var BODY_MAX = 140; // characters of the message in a desktop notification

var heard = new Map(); // chat id -> the last seq accounted for
var shown = new Map(); // chat id, or "queue" -> the desktop notification on screen for it
var audio = null;
var lastChime = 0;
var idleTimer = 0;

// --- settings, per agent (like the read marks) --------------------------------------------------------

var prefs = { sound: true, desktop: true };
var prefsOf = null; // the agent whose settings `prefs` holds
var onKnown = function () {};

/* fn() once the first hello has named the agent, and with it their settings (settings.js shows them). */
export function whenSettingsKnown(fn) {
  onKnown = fn;
}

function prefsKey() {
  return "widget_server.console.notify." + state.me.name;
}

/* {sound, desktop} of the signed-in agent; the defaults (both on) until the first hello names them. */
export function settings() {
  if (state.me && prefsOf !== state.me.name) {
    prefsOf = state.me.name;
    prefs = { sound: true, desktop: true };
    try {
      var saved = JSON.parse(window.localStorage.getItem(prefsKey()) || "{}") || {};
      if (typeof saved.sound === "boolean") prefs.sound = saved.sound;
      if (typeof saved.desktop === "boolean") prefs.desktop = saved.desktop;
    } catch (e) {
      /* storage unavailable: the defaults */
    }
  }
  return prefs;
}

export function changeSetting(name, on) {
  settings()[name] = !!on;
  if (!state.me) return; // not known yet: kept for this page only
  try {
    window.localStorage.setItem(prefsKey(), JSON.stringify(prefs));
  } catch (e) {
    /* storage unavailable: kept for this page only */
  }
  if (name === "sound" && on) wake(); // the switch's click is a gesture: sound works from now on
}

// --- desktop notifications' permission ------------------------------------------------------------------

/* "granted", "denied", "default", or "unsupported" (an old browser, or a page not on https or localhost). */
export function permission() {
  if (!("Notification" in window) || !window.isSecureContext) return "unsupported";
  return window.Notification.permission;
}

/* Ask the browser; call it from a click (browsers ignore or quietly block prompts without one). */
export function askPermission() {
  if (permission() !== "default") return Promise.resolve(permission());
  try {
    return Promise.resolve(window.Notification.requestPermission()).then(permission, permission);
  } catch (e) {
    return Promise.resolve(permission());
  }
}

// --- what the frames tell this module -------------------------------------------------------------

/* A hello: every chat it lists that this console did not know is new since the last one; on the first
 * hello nothing is (it is the page loading). */
export function noticeHello(summaries, first) {
  if (first) onKnown();
  var fresh = [];
  summaries.forEach(function (summary) {
    if (!summary || !summary.id || heard.has(summary.id)) return;
    heard.set(summary.id, summary.lastSeq || 0);
    if (!first && summary.state === "queued" && summary.type !== "offline_msg") fresh.push(summary.id);
  });
  forgetAnswered();
  if (myStatus() !== "online") return; // not taking chats: the queue does not call them
  if (fresh.length === 1) newChat(state.chats.get(fresh[0]));
  else if (fresh.length > 1) {
    // Many at once (back from a long disconnect): one notification, not a cascade.
    var names = fresh.slice(0, 3).map(function (id) { return nickname(state.chats.get(id)); });
    var more = fresh.length - names.length;
    tell("queue", fresh.length + " visitors are waiting", names.join(", ") + (more ? " and " + more + " more" : ""), null);
  }
}

/* A `chat` frame: a chat the console had not seen (isNew), or a change to one. */
export function noticeChat(chat, isNew) {
  if (isNew && !heard.has(chat.id)) {
    heard.set(chat.id, chat.s.lastSeq || 0);
    if (chat.s.state === "queued" && !isMessage(chat)) newChat(chat);
  }
  forgetAnswered();
}

/* Events of a chat, live or from a history answer, in any order, repeats included. */
export function noticeEvents(chat, events) {
  var known = heard.has(chat.id);
  var last = known ? heard.get(chat.id) : 0;
  var top = last;
  var latest = null; // the newest visitor's message or file among the new events
  events.forEach(function (ev) {
    if (typeof ev.seq !== "number" || ev.seq <= last) return;
    if (ev.seq > top) top = ev.seq;
    var fromVisitor = (ev.kind === "message" || ev.kind === "attachment") && ev.from === "visitor";
    if (fromVisitor && (!latest || ev.seq > latest.seq)) latest = ev;
  });
  if (top === last) return;
  heard.set(chat.id, top);
  if (!known || !latest || !(isMineActive(chat) || isWatching(chat)) || lookingAt(chat)) return;
  var text = latest.kind === "attachment" ? "Sent a file: " + String((latest.file && latest.file.name) || "") : latest.text;
  tell(chat.id, nickname(chat), clip(text), chat.id);
}

/* The agent looks at the console (came back to the tab, opened a chat): what they now see needs no
 * notification on the screen any more. */
export function noticeAttention() {
  if (!isVisible()) return;
  dismiss("queue");
  if (state.selectedId) dismiss(state.selectedId);
}

function lookingAt(chat) {
  return chat.id === state.selectedId && isVisible();
}

function newChat(chat) {
  if (!chat || myStatus() !== "online") return; // away or offline: no new chats, no call
  var s = chat.s;
  var subject = s.visitor && s.visitor.subject;
  var said = s.lastMessage && s.lastMessage.text;
  var body = [siteName(chat), subject || said].filter(Boolean).join(" · ");
  tell(chat.id, nickname(chat) + " is waiting", clip(body), chat.id);
}

/* A waiting chat that someone accepted, or that ended, no longer calls anyone. */
function forgetAnswered() {
  shown.forEach(function (_, key) {
    var chat = state.chats.get(key);
    if (key !== "queue" && (!chat || (chat.s.state !== "queued" && !isMineActive(chat) && !isWatching(chat)))) dismiss(key);
  });
}

function clip(text) {
  text = String(text || "").replace(/\s+/g, " ").trim();
  return text.length > BODY_MAX ? text.slice(0, BODY_MAX - 1) + "…" : text;
}

// --- telling -------------------------------------------------------------------------------------------

function tell(key, title, body, chatId) {
  var wanted = settings();
  var chimed = wanted.sound && chime();
  // The system's own notification sound only where ours did not play, and never with sound turned off.
  if (wanted.desktop) show(key, title, body, chatId, chimed || !wanted.sound);
}

function show(key, title, body, chatId, silent) {
  if (permission() !== "granted") return;
  var notification;
  try {
    // One per chat: a newer message replaces the one on screen (the tag) and alerts again (renotify).
    notification = new window.Notification(title, { body: body, tag: "chat:" + key, renotify: true, silent: silent });
  } catch (e) {
    return; // Chrome on Android shows notifications only through a service worker
  }
  shown.set(key, notification);
  notification.onclick = function () {
    window.focus();
    notification.close();
    if (chatId && state.chats.has(chatId)) handlers.select(chatId);
  };
  notification.onclose = function () {
    if (shown.get(key) === notification) shown.delete(key);
  };
}

function dismiss(key) {
  var notification = shown.get(key);
  if (!notification) return;
  shown.delete(key);
  notification.close();
}

// --- the chime ----------------------------------------------------------------------------------------

/* Listen for the agent's first gesture, which lets the page make sounds. */
export function listenForGesture() {
  ["pointerdown", "keydown"].forEach(function (type) {
    document.addEventListener(type, wake, { capture: true, passive: true });
  });
}

function wake() {
  if (audio || !state.me || !settings().sound) return; // made once, for an agent who wants sound
  var Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = new Context();
  } catch (e) {
    return;
  }
  rest();
}

/* Release the audio device while nothing plays; the gesture once given, resuming needs none. */
function rest() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(function () {
    if (audio.state === "running") audio.suspend();
  }, 1500);
}

/* Two soft tones, rising: true if they play (after a gesture), false if the page may not make a sound. */
function chime() {
  if (!audio) return false;
  var now = Date.now();
  if (now - lastChime < CHIME_GAP) return true; // the one just played stands for this one
  lastChime = now;
  function play() {
    var at = audio.currentTime + 0.02;
    tone(at, 659.25, 0.22); // E5
    tone(at + 0.14, 880, 0.42); // A5
    rest();
  }
  if (audio.state === "running") play();
  else audio.resume().then(play, function () {});
  return true;
}

function tone(at, frequency, length) {
  var oscillator = audio.createOscillator();
  var gain = audio.createGain();
  oscillator.type = "sine";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.16, at + 0.012); // a soft strike, no click
  gain.gain.exponentialRampToValueAtTime(0.0001, at + length); // and a bell's fade
  oscillator.connect(gain);
  gain.connect(audio.destination);
  oscillator.start(at);
  oscillator.stop(at + length + 0.05);
}
