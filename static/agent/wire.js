/* The socket to /agent/ws: connect, keep alive with pings, reconnect with backoff (or at the moment a
 * server restart names), send a frame. What a frame means is frames.js's business, handed in by main.js. */

import { BACKOFF_FIRST, BACKOFF_MAX, LOGIN_URL, PING_EVERY, PONG_WITHIN } from "./config.js";
import { setConnection } from "./indicators.js";
import { state } from "./state.js";

var socket = null;
var backoff = BACKOFF_FIRST;
var reconnectTimer = 0;
var pingTimer = 0;
var pongTimer = 0;

var onFrame = function () {};
var onLost = function () {};

/* onFrame(frame) for every frame with a type; onLost() as soon as an open or opening socket closes. */
export function listen(frameHandler, lostHandler) {
  onFrame = frameHandler;
  onLost = lostHandler;
}

export function send(frame) {
  if (!socket || !state.socketOpen) return false;
  try {
    socket.send(JSON.stringify(frame));
    return true;
  } catch (e) {
    return false;
  }
}

export function connect() {
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
  setConnection(state.helloCount ? "reconnecting" : "connecting");
  ws.addEventListener("open", function () {
    if (socket !== ws) return;
    opened = true;
    state.socketOpen = true;
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
    if (frame && typeof frame.type === "string") onFrame(frame);
  });
  ws.addEventListener("close", function (event) {
    if (socket !== ws) return;
    socket = null;
    state.socketOpen = false;
    stopPing();
    onLost();
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

export function reconnectNow() {
  if (socket) return;
  backoff = BACKOFF_FIRST;
  connect();
}

/* The server said hello: this connection works, so the next loss starts over from the first step. */
export function resetBackoff() {
  backoff = BACKOFF_FIRST;
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
