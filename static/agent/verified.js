/* Whether the site vouched for the visitor: its backend signed their id (and email) with the site's
 * identity secret, and the server checked the signature before the chat started (docs/embedding.md,
 * "Verified identities"). The summary's `visitor.verified` is {id, email?} then, absent otherwise. */

import { el, icon, visuallyHidden } from "./dom.js";

export function verifiedOf(visitor) {
  var v = visitor && visitor.verified;
  return v && typeof v === "object" && typeof v.id === "string" ? v : null;
}

/* A shield beside the name (lists: `compact`, the word for screen readers only) or a "Verified" pill.
 * Null for a visitor the site did not vouch for: nothing is shown, rather than an "unverified" mark on
 * every anonymous visitor. */
export function verifiedBadge(visitor, compact) {
  var v = verifiedOf(visitor);
  if (!v) return null;
  var title = "Verified by the site as " + v.id + (v.email ? " (" + v.email + ")" : "");
  if (compact) return el("span", { class: "verified compact", title: title }, icon("verified", 13), visuallyHidden("verified"));
  return el("span", { class: "pill verified", title: title }, icon("verified", 12), "Verified");
}
