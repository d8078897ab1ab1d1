// The console's behaviour that HTML and htmx attributes cannot express. No inline scripts (CSP).
(function () {
  "use strict";
  var csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  // Every htmx request carries the session's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });

  // A refused htmx request shows its Chinese message instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var toast = document.getElementById("toast");
    if (!toast) { return; }
    var text = event.detail.xhr.responseText || "";
    var holder = document.createElement("div");
    holder.innerHTML = text;
    var alert = holder.querySelector(".alert");
    toast.innerHTML = "";
    toast.appendChild(alert || Object.assign(document.createElement("div"), {
      className: "alert error", textContent: "操作失败（" + event.detail.xhr.status + "），请刷新后重试"
    }));
    setTimeout(function () { toast.innerHTML = ""; }, 8000);
  });

  // Keyboard: "/" focuses the search box; "g" then a letter opens a section (see the nav titles);
  // "j"/"k" move through the rows of a list, Enter opens the selected row.
  var pendingG = false;
  var typing = function (target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  };
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("[data-rows] tr[data-href]")); };
  var move = function (step) {
    var list = rows();
    if (!list.length) { return; }
    var index = list.findIndex(function (row) { return row.classList.contains("selected"); });
    if (index >= 0) { list[index].classList.remove("selected"); }
    index = Math.max(0, Math.min(list.length - 1, index + step));
    list[index].classList.add("selected");
    list[index].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (pendingG) {
      pendingG = false;
      var link = document.querySelector('.mainnav a[data-key="' + event.key + '"]');
      if (link) { event.preventDefault(); window.location.href = link.href; }
      return;
    }
    if (event.key === "g") { pendingG = true; setTimeout(function () { pendingG = false; }, 1200); return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    if (event.key === "j") { move(1); return; }
    if (event.key === "k") { move(-1); return; }
    if (event.key === "Enter") {
      var selected = document.querySelector("[data-rows] tr.selected[data-href]");
      if (selected) { window.location.href = selected.getAttribute("data-href"); }
    }
  });

  // Rows with data-href open on click (links inside them keep working).
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("[data-rows] tr[data-href]");
    if (row && !event.target.closest("a, button, input, select, label")) {
      window.location.href = row.getAttribute("data-href");
    }
  });

  // Confirm before destructive submits: <button data-confirm="…">.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
})();
