/* Times as the console shows them: clock times, day separators, waiting durations. */

import { el } from "./dom.js";

export function parseTime(iso) {
  var ms = Date.parse(iso);
  return isNaN(ms) ? Date.now() : ms;
}

export function hhmm(ms) {
  var d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

export function fullDate(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "full", timeStyle: "medium" });
}

export function dayLabel(ms) {
  var d = new Date(ms);
  var today = new Date();
  var yesterday = new Date(Date.now() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function shortDateTime(ms) {
  var d = new Date(ms);
  if (d.toDateString() === new Date().toDateString()) return hhmm(ms);
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " " + hhmm(ms);
}

export function duration(ms) {
  var s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + " s";
  var m = Math.floor(s / 60);
  if (m < 60) return m + " min";
  var h = Math.floor(m / 60);
  if (h < 24) return h + " h " + (m % 60) + " min";
  return Math.floor(h / 24) + " d " + (h % 24) + " h";
}

export function timeEl(ms, text) {
  return el("time", { datetime: new Date(ms).toISOString(), title: fullDate(ms), text: text || hhmm(ms) });
}
