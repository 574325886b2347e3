// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // The registry banner follows the box's state without a reload.
  var banner = document.getElementById("banner");
  function refresh() {
    fetch("/ui/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        if (s.banner === "offline") { document.cookie = "edge_offline=1; path=/; SameSite=Strict"; }
        if (banner.getAttribute("data-state") !== (s.banner || "")) {
          banner.innerHTML = s.html;
          banner.setAttribute("data-state", s.banner || "");
          var next = banner.querySelector("input[name=next]");
          if (next) { next.value = banner.getAttribute("data-path") || "/"; }
        }
      })
      .catch(function () { /* the box itself is unreachable: keep what is shown */ });
  }
  if (banner && document.querySelector("header .me")) {
    var shown = banner.querySelector(".banner");
    banner.setAttribute("data-state", shown ? (shown.classList.contains("offline") ? "offline" : "sent") : "");
    setInterval(refresh, 5000);
  }
  // A half-filled declaration survives a reload: kept in this browser until submitted.
  var form = document.querySelector("form[data-autosave]");
  if (form && window.localStorage) {
    var key = form.getAttribute("data-autosave");
    var invalid = form.querySelector("[aria-invalid=true]");
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (saved && !invalid) {
      Object.keys(saved).forEach(function (name) {
        var el = form.elements.namedItem(name);
        if (!el || name === "csrf_token") { return; }
        if (el.type === "checkbox") { el.checked = !!saved[name]; } else { el.value = saved[name]; }
      });
    }
    form.addEventListener("input", function () {
      var data = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.name === "csrf_token" || el.type === "submit" || el.type === "hidden") { return; }
        data[el.name] = el.type === "checkbox" ? el.checked : el.value;
      });
      localStorage.setItem(key, JSON.stringify(data));
    });
    form.addEventListener("submit", function () { localStorage.removeItem(key); });
  }
  // Focus the error summary so keyboard and screen-reader users hear what to fix.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
