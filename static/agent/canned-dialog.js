/* The "Canned responses" dialog: the shared ones and mine, searched by shortcut, title and text; add,
 * edit and delete (the server decides who may: everyone their own, operators the shared ones, and says
 * why not, per field); and Insert, into the reply box of the chat open behind it. */

import { cannedList, cannedRequest, cannedState, insertCanned, loadCanned, matching, onCannedLoaded } from "./canned.js";
import { openDialog } from "./dialog.js";
import { el, icon } from "./dom.js";
import { state } from "./state.js";

var PLACEHOLDERS = ["visitor.name", "visitor.email", "agent.name", "site.name"];

export function openCannedDialog() {
  var body = el("div", { class: "dialog-body canned-body" });
  var view = { editing: null, query: "", confirming: null, error: "" };
  var search = el("input", {
    type: "search",
    id: "canned-search",
    class: "canned-input",
    placeholder: "Search shortcuts, titles and text",
    autocomplete: "off",
    oninput: function () {
      view.query = search.value.trim();
      renderList();
    },
  });
  var listArea = el("div", { class: "canned-lists" });
  var listView = el(
    "div",
    { class: "canned-list-view" },
    el(
      "div",
      { class: "canned-tools" },
      el("label", { for: "canned-search", class: "vh", text: "Search canned responses" }),
      search,
      el("button", { type: "button", class: "btn primary", onclick: function () { edit(null); } }, "New response")
    ),
    el("p", { class: "canned-help" }, "Type ", el("kbd", { text: "/" }), " at the start of the reply box to insert one by its shortcut."),
    listArea
  );
  body.append(listView);
  var stop = onCannedLoaded(renderList);
  var dialog = openDialog({ id: "canned-dialog", title: "Canned responses", className: "canned-dialog", body: body, focus: search, onClose: stop });
  loadCanned();
  renderList();

  function composer() {
    var ui = state.ui;
    return ui.textarea && !ui.textarea.disabled ? ui.textarea : null;
  }

  function renderList() {
    if (view.editing) return;
    var data = cannedState();
    var found = view.query ? matching(view.query.replace(/^\//, "")) : cannedList();
    var groups = [
      ["shared", "Shared with every agent", "No shared responses yet. Operators add them."],
      ["personal", "Yours", "None of your own yet. Only you see the ones you add."],
    ];
    listArea.replaceChildren();
    if (view.error) {
      listArea.append(el("p", { class: "canned-form-error", role: "alert", text: view.error }));
      view.error = "";
    }
    if (!data.loaded) {
      listArea.append(el("p", { class: "canned-none", text: data.failed ? "The canned responses could not be loaded." : "Loading…" }));
      return;
    }
    groups.forEach(function (group) {
      var items = found.filter(function (r) { return r.scope === group[0]; });
      var headingId = "canned-group-" + group[0];
      listArea.append(el("h3", { id: headingId, class: "canned-group" }, group[1], " ", el("span", { class: "count", text: String(items.length) })));
      if (!items.length) {
        listArea.append(el("p", { class: "canned-none", text: view.query ? "Nothing matches." : group[2] }));
        return;
      }
      var ul = el("ul", { class: "canned-items", "aria-labelledby": headingId });
      items.forEach(function (response) { ul.append(item(response)); });
      listArea.append(ul);
    });
  }

  function item(response) {
    var actions = el("div", { class: "canned-item-actions" });
    var target = composer();
    if (view.confirming === response.id) {
      actions.append(
        el("span", { class: "canned-confirm", text: "Delete /" + response.shortcut + "?" }),
        el("button", { type: "button", class: "btn small danger-ghost confirm", onclick: function () { remove(response); } }, "Delete"),
        el("button", { type: "button", class: "btn small ghost", onclick: function () { view.confirming = null; renderList(); } }, "Keep")
      );
    } else {
      if (target) {
        actions.append(
          el(
            "button",
            {
              type: "button",
              class: "btn small ghost",
              "aria-label": "Insert /" + response.shortcut,
              onclick: function () {
                var chat = state.selectedId ? state.chats.get(state.selectedId) : null;
                dialog.close();
                insertCanned(target, chat, response);
              },
            },
            "Insert"
          )
        );
      }
      if (response.editable) {
        actions.append(
          el("button", { type: "button", class: "btn small ghost", "aria-label": "Edit /" + response.shortcut, onclick: function () { edit(response); } }, "Edit"),
          el(
            "button",
            {
              type: "button",
              class: "btn small danger-ghost",
              "aria-label": "Delete /" + response.shortcut,
              onclick: function () {
                view.confirming = response.id;
                renderList();
                var keep = listArea.querySelector(".canned-confirm + .btn");
                if (keep) keep.focus();
              },
            },
            "Delete"
          )
        );
      }
    }
    return el(
      "li",
      { class: "canned-item" },
      el(
        "div",
        { class: "canned-item-head" },
        el("span", { class: "canned-shortcut", text: "/" + response.shortcut }),
        el("span", { class: "canned-item-title", text: response.title }),
        el("span", { class: "canned-tag " + response.scope, text: response.scope === "shared" ? "Shared" : "Yours" })
      ),
      el("p", { class: "canned-item-text", text: response.text }),
      actions
    );
  }

  function remove(response) {
    cannedRequest("DELETE", response.id).then(function (result) {
      view.confirming = null;
      if (result.status !== 204 && result.status !== 404) view.error = result.body.message || "It could not be deleted.";
      loadCanned();
    });
  }

  /* The form, for a new response (null) or to change one. */
  function edit(response) {
    view.editing = response || {};
    var me = state.me || {};
    var operator = me.role === "operator";
    var fields = {};
    var errors = {};
    function field(name, label, control, help) {
      var error = el("p", { id: "canned-" + name + "-error", class: "canned-field-error", hidden: true });
      errors[name] = error;
      fields[name] = control;
      control.id = "canned-" + name;
      var described = [help ? "canned-" + name + "-help" : null, error.id].filter(Boolean).join(" ");
      control.setAttribute("aria-describedby", described);
      return el(
        "div",
        { class: "canned-field" },
        el("label", { for: control.id, text: label }),
        help ? el("p", { id: "canned-" + name + "-help", class: "canned-field-help" }, help) : null,
        name === "shortcut" ? el("div", { class: "shortcut-input" }, el("span", { "aria-hidden": "true", text: "/" }), control) : control,
        error
      );
    }
    var scope = null;
    if (!response) {
      scope = el(
        "fieldset",
        { class: "canned-field canned-scope" },
        el("legend", { text: "Who sees it" }),
        scopeOption("personal", "Only me", true, false),
        scopeOption("shared", "Every agent" + (operator ? "" : " (operators only)"), false, !operator)
      );
    }
    var text = el("textarea", { class: "canned-input", rows: "6", maxlength: "4000", text: response ? response.text : "" });
    var chips = el("span", null, "Placeholders, filled in when inserted: ");
    PLACEHOLDERS.forEach(function (name) {
      chips.append(
        el(
          "button",
          {
            type: "button",
            class: "canned-chip",
            onclick: function () {
              text.setRangeText("{{" + name + "}}", text.selectionStart, text.selectionEnd, "end");
              text.focus();
            },
          },
          "{{" + name + "}}"
        ),
        " "
      );
    });
    var formError = el("p", { class: "canned-form-error", role: "alert", hidden: true });
    var save = el("button", { type: "submit", class: "btn primary" }, response ? "Save" : "Add");
    var form = el(
      "form",
      { class: "canned-form", novalidate: true, onsubmit: submit },
      el("h3", { class: "canned-form-title", text: response ? "Edit /" + response.shortcut : "New canned response" }),
      formError,
      scope,
      field("shortcut", "Shortcut", el("input", { class: "canned-input", autocomplete: "off", spellcheck: "false", maxlength: "33", value: response ? response.shortcut : "" }), "Letters a-z, digits, - and _: typed after / in the reply box."),
      field("title", "Title", el("input", { class: "canned-input", autocomplete: "off", maxlength: "100", value: response ? response.title : "" })),
      field("text", "Text", text, chips),
      el(
        "div",
        { class: "canned-form-actions" },
        el("button", { type: "button", class: "btn ghost", onclick: back }, "Cancel"),
        save
      )
    );
    body.replaceChildren(form);
    fields.shortcut.focus();

    function scopeOption(value, label, checked, disabled) {
      return el(
        "label",
        { class: "canned-scope-option" + (disabled ? " disabled" : "") },
        el("input", { type: "radio", name: "canned-scope", value: value, checked: checked, disabled: disabled }),
        " ",
        label
      );
    }

    function submit(event) {
      event.preventDefault();
      Object.keys(errors).forEach(function (name) {
        errors[name].hidden = true;
        fields[name].removeAttribute("aria-invalid");
      });
      formError.hidden = true;
      save.disabled = true;
      var chosen = form.querySelector('input[name="canned-scope"]:checked');
      var payload = { shortcut: fields.shortcut.value, title: fields.title.value, text: fields.text.value };
      if (!response) payload.scope = chosen ? chosen.value : "personal";
      cannedRequest(response ? "PUT" : "POST", response ? response.id : null, payload).then(function (result) {
        save.disabled = false;
        if (result.status === 200 || result.status === 201) {
          loadCanned();
          back();
          return;
        }
        var name = result.body.field;
        var message = result.body.message || "It could not be saved. Please try again.";
        if (name && errors[name]) {
          errors[name].textContent = message;
          errors[name].hidden = false;
          fields[name].setAttribute("aria-invalid", "true");
          fields[name].focus();
        } else {
          formError.textContent = message;
          formError.hidden = false;
        }
      });
    }
  }

  function back() {
    view.editing = null;
    body.replaceChildren(listView);
    renderList();
    search.focus();
  }
}
