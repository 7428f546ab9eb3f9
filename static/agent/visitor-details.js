/* The open chat's side panel: who the visitor is, the page they are on, their browser, and the data the
 * site passed in. */

import { pageUrlOf, siteName } from "./chats.js";
import { el, externalLink, safeMail, safeUrl } from "./dom.js";
import { earlierSection } from "./earlier-chats.js";
import { state } from "./state.js";
import { parseTime, shortDateTime, timeEl } from "./time.js";
import { verifiedBadge, verifiedOf } from "./verified.js";

export function renderDetails() {
  var ui = state.ui;
  var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
  if (!chat || !ui.details) return;
  var v = chat.s.visitor || {};
  var rows = el("dl", { class: "kv" });
  function row(label, value) {
    rows.append(el("div", { class: "kv-row" }, el("dt", { text: label }), el("dd", null, value)));
  }
  row("Name", v.nickname || "—");
  var verified = verifiedOf(v);
  if (verified) {
    // What the site signed: the id in its own records, and the email if it vouched for one.
    row("Verified", el("span", null, verifiedBadge(v), " ", el("code", { class: "verified-id", text: verified.id })));
  }
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
    earlierSection(chat),
    el("h3", { text: "Data from the site" }),
    dataBlock
  );
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
