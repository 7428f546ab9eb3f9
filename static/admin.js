// The admin page's niceties; every form works without this script.
//  - Copy buttons: <button data-copy="ID"> copies the text of #ID.
//  - The backend <select data-backend-select> shows only its backend's <fieldset data-backend>.
//  - A checkbox with data-confirms="ID" enables button #ID only while ticked.
//  - The "done" note (data-toast) fades away after a few seconds.
//  - <time data-local> shows the entry's time in the browser's time zone (UTC stays in the tooltip).
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http (a local test server): the old way, through a selected off-screen textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "vh";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) resolve();
      else reject(new Error("copy refused"));
    });
  }

  function setUpCopy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.querySelector("[data-copy-label]") || button;
    var status = document.querySelector("[data-copy-status]");
    var timer = null;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(source.textContent).then(
        function () {
          label.textContent = "Copied";
          button.classList.add("copied");
          if (status) status.textContent = "The snippet is copied to the clipboard.";
        },
        function () {
          // Leave the text selected so that Ctrl+C / Cmd+C works.
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          label.textContent = "Press Ctrl+C";
        }
      );
      clearTimeout(timer);
      timer = setTimeout(function () {
        label.textContent = "Copy";
        button.classList.remove("copied");
        if (status) status.textContent = "";
      }, 2000);
    });
  }

  function setUpBackend(select) {
    var form = select.form;
    function show() {
      form.querySelectorAll("fieldset[data-backend]").forEach(function (set) {
        var active = set.getAttribute("data-backend") === select.value;
        set.toggleAttribute("data-inactive", !active);
        set.disabled = !active; // the other backends' fields are not sent
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function setUpConfirm(box) {
    var button = document.getElementById(box.getAttribute("data-confirms"));
    if (!button) return;
    function sync() {
      button.disabled = !box.checked;
    }
    box.addEventListener("change", sync);
    sync();
  }

  function localTime(element) {
    var date = new Date(element.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    element.title = element.textContent;
    element.textContent = date.toLocaleString(undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  }

  ready(function () {
    document.querySelectorAll("[data-copy]").forEach(setUpCopy);
    document.querySelectorAll("select[data-backend-select]").forEach(setUpBackend);
    document.querySelectorAll("input[data-confirms]").forEach(setUpConfirm);
    document.querySelectorAll("time[data-local]").forEach(localTime);
    document.querySelectorAll("[data-toast]").forEach(function (toast) {
      setTimeout(function () {
        toast.classList.add("gone");
        setTimeout(function () {
          toast.hidden = true;
        }, 400);
      }, 4000);
    });
  });
})();
