/*
 * widget_server chat widget, part two: attaching files. widget.js loads it into its shadow root (with the
 * page's nonce, if any) only when the site takes files (hello.capabilities has "attachments") and a chat is
 * open, so that the script every visitor downloads stays small.
 *
 * It adds an attach button (and dropping files on the conversation) to the widget's shadow root and uploads
 * each file with fetch: POST /attachments/SITE, multipart `file` and a client `id`, the chat's token as
 * `Authorization: Bearer` (widget_server/web/attachments.py). The server decides by content what it takes;
 * its message is shown when it refuses. A stored file comes back to every tab as an `attachment` event,
 * which widget.js renders like a message; until then an "Uploading NAME…" line stands in.
 *
 * From widget.js it takes one property of the host element, `widgetServerFiles`:
 *   url        where to upload
 *   token()    the chat's current resume token (it changes on every `welcome`), or nothing
 *   notice(s)  show a short message over the conversation
 *   t(id, vars), en, bytes(n), rules()
 *              the visitor's language: a string by id (its English is EN below, added to widget.js's `en`;
 *              the locale files have these ids too), a size as the language writes it, and hello's `files`
 *   style(css) adds this part's styles to the shadow root, as widget.js adds its own
 * File names are text: they reach the DOM as text nodes, never as HTML.
 */
(() => {
  "use strict";

  const host = document.querySelector("widget-server-chat");
  const api = host && host.widgetServerFiles;
  const shadow = host && host.shadowRoot;
  if (!api || !shadow || !api.style || shadow.querySelector(".clip")) return; // loaded twice, or by an older widget.js

  // The English of this part's strings, as JSON (widget_server/widget_strings.py reads it too).
  const EN = {
"attach": "Attach a file",
"choose_files": "Choose files",
"uploading": "Uploading {name}…",
"upload_failed": "The file could not be sent. Please try again.",
"file_too_large": "A file may be at most {size}.",
"file_too_many": {"one": "A chat may have at most {n} file.", "other": "A chat may have at most {n} files."},
"file_empty": "The file is empty.",
"file_type": "This type of file is not accepted here.",
"file_unsupported": "Files cannot be sent in this chat."
  };
  Object.assign(api.en, EN);
  const t = api.t;
  // The server's error codes (POST /attachments, docs/protocol.md) said in the visitor's language.
  const REFUSALS = {
    too_large: "file_too_large",
    too_many_files: "file_too_many",
    empty: "file_empty",
    type_not_allowed: "file_type",
    unsupported: "file_unsupported",
    chat_ended: "error_chat_ended",
    invalid_token: "upload_failed",
    bad_request: "upload_failed",
  };
  const composer = shadow.querySelector(".composer");
  const chat = shadow.querySelector(".chat");
  const log = shadow.querySelector(".log");
  const scroller = shadow.querySelector(".scroll");

  /** createElement with attributes; string children become text nodes (as in widget.js). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : value);
    }
    el.append(...children);
    return el;
  }

  // widget.js styles svg icons, focus rings and `hidden`; this adds the button and the drop highlight.
  const CSS_TEXT = `
.clip{display:grid;place-items:center;flex:none;width:42px;height:42px;border-radius:50%;color:var(--muted)}
.clip:hover{background:#f2f4f7;color:var(--text)}
.nofiles .clip{display:none}
.dropping .scroll{outline:2px dashed var(--brand);outline-offset:-6px}
`;
  api.style(CSS_TEXT);

  const NS = "http://www.w3.org/2000/svg";
  const clipIcon = document.createElementNS(NS, "svg");
  const path = document.createElementNS(NS, "path");
  clipIcon.setAttribute("viewBox", "0 0 24 24");
  clipIcon.setAttribute("aria-hidden", "true");
  path.setAttribute("d", "m21.4 11-9.2 9.3a6 6 0 0 1-8.5-8.5l8.6-8.6A4 4 0 1 1 18 8.8l-8.6 8.6a2 2 0 0 1-2.8-2.8l8.5-8.5");
  clipIcon.append(path);

  const picker = h("input", {
    type: "file",
    multiple: true,
    hidden: true,
    tabindex: "-1",
    "aria-label": t("choose_files"),
    onchange: () => {
      [...picker.files].forEach(upload);
      picker.value = ""; // the same file may be chosen again
    },
  });
  const clip = h("button", { class: "clip", type: "button", "aria-label": t("attach"), onclick: () => picker.click() }, clipIcon);
  composer.prepend(clip, picker); // before the message box: Shift+Tab from it reaches the button

  const canAttach = () => !composer.hidden && !composer.classList.contains("nofiles");

  // Files dropped on the conversation are attached; dragging over it outlines it.
  let dropTimer;
  chat.addEventListener("dragover", (e) => {
    if (!canAttach() || !e.dataTransfer || !e.dataTransfer.types.includes("Files")) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    chat.classList.add("dropping");
    clearTimeout(dropTimer);
    dropTimer = setTimeout(() => chat.classList.remove("dropping"), 150); // dragleave fires for every child
  });
  chat.addEventListener("drop", (e) => {
    if (!canAttach() || !e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    chat.classList.remove("dropping");
    [...e.dataTransfer.files].forEach(upload);
  });

  function newId() {
    // randomUUID: secure contexts only
    return crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  async function upload(file) {
    const token = api.token();
    if (!token) return;
    // Below everything on screen, like a message not yet stored: widget.js places events above `.pending`.
    const line = h("p", { class: "sys pending" }, t("uploading", { name: file.name }));
    log.append(line);
    scroller.scrollTop = scroller.scrollHeight;
    const form = new FormData();
    form.append("file", file);
    form.append("id", newId()); // the same request sent again stores the file once
    let response = null;
    let answer = {};
    try {
      response = await fetch(api.url, { method: "POST", headers: { Authorization: "Bearer " + token }, body: form });
      answer = await response.json();
    } catch (e) {
      // Offline, or refused without an answer the page may read (an origin or address not allowed).
    }
    if (response && response.ok && answer.id) return untilShown(answer.id, line);
    line.remove();
    api.notice(refusal(answer));
  }

  /** Ours for a code we know (with the site's limits), the server's sentence for another. */
  function refusal(answer) {
    const id = REFUSALS[answer.error];
    const rules = api.rules();
    if (!id || (id.startsWith("file_too") && !rules.maxBytes)) return answer.message || t("upload_failed");
    return t(id, { size: api.bytes(rules.maxBytes), n: rules.maxFiles });
  }

  /** The line stays until the file's event is on screen (before or after the upload's answer). */
  function untilShown(fileId, line) {
    const shown = () => !line.isConnected || [...log.querySelectorAll("a.file")].some((a) => a.href.includes("/" + fileId + "?"));
    if (shown()) return line.remove();
    const observer = new MutationObserver(() => {
      if (!shown()) return;
      observer.disconnect();
      line.remove();
    });
    observer.observe(log, { childList: true });
  }
})();
