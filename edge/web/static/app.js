// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  var body = document.body;
  var user = body.getAttribute("data-user");  // set on the pages of a logged-in user
  var csrf = body.getAttribute("data-csrf") || "";
  var store = null;
  try { store = window.localStorage; } catch (e) { store = null; }
  var WEEK = 7 * 24 * 3600 * 1000;

  // --- the registry banner follows the box's state without a reload ---------------------
  var banner = document.getElementById("banner");
  function refresh() {
    fetch("/ui/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        if (banner.getAttribute("data-state") !== (s.banner || "")) {
          banner.innerHTML = s.html;
          banner.setAttribute("data-state", s.banner || "");
          var next = banner.querySelector("input[name=next]");
          if (next) { next.value = banner.getAttribute("data-path") || "/"; }
        }
      })
      .catch(function () { /* the box itself is unreachable: keep what is shown */ });
  }
  if (banner && user) {
    var shown = banner.querySelector(".banner");
    banner.setAttribute("data-state", shown ? (shown.classList.contains("offline") ? "offline" : "sent") : "");
    setInterval(refresh, 5000);
  }

  // --- on a phone the workqueues are one line that scrolls: the current one in view -------
  var current = document.querySelector(".queues a[aria-current]");
  var strip = current && current.closest(".queues");
  if (strip && strip.scrollWidth > strip.clientWidth) {
    var box = strip.getBoundingClientRect(), link = current.getBoundingClientRect();
    if (link.left < box.left || link.right > box.right) {
      // Only the strip scrolls (never the page): the link near its middle.
      strip.scrollLeft += (link.left + link.right) / 2 - (box.left + box.right) / 2;
    }
  }

  // --- forms kept in this browser: per user and per form, until the box confirmed them ---
  // A copy is {v: values, t: when saved, sent: when submitted (not yet confirmed) or null}.
  var prefix = user ? "edge.form." + user + "." : null;
  function forget(test) {
    if (!store) { return; }
    for (var i = store.length - 1; i >= 0; i--) {
      var k = store.key(i);
      if (k && k.indexOf("edge.form.") === 0 && test(k)) { store.removeItem(k); }
    }
  }
  function read(key) {
    try { return JSON.parse(store.getItem(key) || "null"); } catch (e) { return null; }
  }
  if (store) {
    // Copies nobody came back to within a week are dropped, whoever they belong to.
    forget(function (k) { var c = read(k); return !c || !c.t || Date.now() - c.t > WEEK; });
  }
  if (store && prefix) {
    // The box carried out the form that led here: its copy is no longer needed.
    var sent = body.getAttribute("data-sent-form");
    // Space-separated: an action may settle more than one form (Delete draft: its own and
    // the draft's).
    if (sent) { sent.split(" ").forEach(function (name) { store.removeItem(prefix + name); }); }
    var logout = document.querySelector("form[data-logout]");
    if (logout) {
      logout.addEventListener("submit", function (event) {
        // A form the box never confirmed would be lost: ask before deleting it.
        var unsent = false;
        forget(function (k) {
          if (k.indexOf(prefix) === 0) { var c = read(k); unsent = unsent || !!(c && c.sent); }
          return false;
        });
        if (unsent && !window.confirm(logout.getAttribute("data-unsent"))) {
          event.preventDefault();
          return;
        }
        forget(function (k) { return k.indexOf(prefix) === 0; });
      });
    }
  }
  var form = document.querySelector("form[data-autosave]");
  if (form && store && prefix) {
    var key = prefix + form.getAttribute("data-autosave");
    var invalid = form.querySelector("[aria-invalid=true]");
    var values = function () {
      var data = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        // A chosen file cannot be kept in the browser (nor put back): the box keeps it.
        if (!el.name || el.type === "submit" || el.type === "hidden" || el.type === "file") { return; }
        if (el.name.indexOf("doc_remove.") === 0) { return; }
        data[el.name] = el.type === "checkbox" ? el.checked : el.value;
      });
      return data;
    };
    // The form's idempotency key is kept with the copy: sent again after an answer that
    // never came, the box recognises it and does not do it twice.
    var idem = form.elements.namedItem("idem");
    var save = function (sentAt) {
      store.setItem(key, JSON.stringify({
        v: values(), t: Date.now(), sent: sentAt, idem: idem ? idem.value : null
      }));
    };
    var copy = read(key);
    if (invalid) {
      // The box answered this form (with what to fix): what is shown is what it kept.
      save(null);
    } else if (copy && copy.v) {
      Object.keys(copy.v).forEach(function (name) {
        var el = form.elements.namedItem(name);
        if (!el || el.type === "hidden" || el.type === "file") { return; }
        if (el.type === "checkbox") { el.checked = !!copy.v[name]; } else { el.value = copy.v[name]; }
      });
      if (copy.idem && idem) { idem.value = copy.idem; }
      if (copy.sent) {
        var note = document.getElementById("unsent");
        if (note) { note.hidden = false; }
      }
    }
    form.addEventListener("input", function () { save(null); });
    // Kept until the box confirms: a session that ended or a box that could not be reached
    // at this moment never costs what was typed.
    form.addEventListener("submit", function (event) {
      // Going to the review sends nothing yet; any other button does.
      var to = event.submitter && event.submitter.value;
      save(to === "REVIEW" ? null : Date.now());
    });
    var cancel = form.querySelector("[data-cancel]");
    if (cancel) { cancel.addEventListener("click", function () { store.removeItem(key); }); }
  }

  // A document larger than the box takes is said at once, before it is sent for nothing
  // (the box refuses it too, by name, if it is sent anyway).
  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-max-bytes]"), function (input) {
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var note = document.createElement("p");
    note.className = "field-error";
    note.setAttribute("role", "alert");
    note.hidden = true;
    input.parentNode.insertBefore(note, input);
    input.addEventListener("change", function () {
      var big = Array.prototype.filter.call(input.files || [], function (f) { return f.size > max; });
      note.textContent = big.length ? big[0].name + ": " + input.getAttribute("data-too-large") : "";
      note.hidden = !big.length;
    });
  });

  // The review page sends a form kept on the form's page: mark that copy as sent (its
  // values stay; it is forgotten once the box confirmed).
  var review = document.querySelector("form[data-sends]");
  if (review && store && prefix) {
    review.addEventListener("submit", function (event) {
      var to = event.submitter && event.submitter.value;
      var k = prefix + review.getAttribute("data-sends");
      var c = read(k);
      if (c && to !== "CHANGE") { c.sent = Date.now(); store.setItem(k, JSON.stringify(c)); }
    });
  }

  // --- the login session: warn before it ends for lack of activity ------------------------
  var warning = document.getElementById("session-warning");
  var left = parseFloat(body.getAttribute("data-session-left") || "0");
  if (user && warning && left > 0) {
    var shared = "edge.deadline." + user;  // every tab of this user sees the latest activity
    var idle = parseFloat(body.getAttribute("data-idle") || "0") || left;
    var warnAt = Math.min(120, idle / 2);
    var touchEvery = Math.max(1, Math.min(60, idle / 4)) * 1000;
    var lastTouch = Date.now();
    var extend = function (seconds) {
      var deadline = Date.now() + seconds * 1000;
      var other = store ? parseFloat(store.getItem(shared) || "0") : 0;
      if (store && deadline > other) { store.setItem(shared, String(deadline)); }
      return Math.max(deadline, other);
    };
    var deadline = extend(left);
    var keepalive = function () {
      lastTouch = Date.now();
      fetch("/ui/keepalive", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
        body: "csrf_token=" + encodeURIComponent(csrf)
      }).then(function (r) {
        var json = (r.headers.get("content-type") || "").indexOf("json") >= 0;
        return r.ok && json ? r.json() : { session_left: 0 };
      }).then(function (s) {
        deadline = s.session_left > 0 ? extend(s.session_left) : Date.now();
        tick();
      }).catch(function () { /* the box cannot be reached: the countdown goes on */ });
    };
    var text = warning.querySelector("p");
    var button = warning.querySelector("[data-keepalive]");
    var tick = function () {
      if (store) { deadline = Math.max(deadline, parseFloat(store.getItem(shared) || "0")); }
      var remaining = Math.round((deadline - Date.now()) / 1000);
      if (remaining <= 0) {
        text.textContent = warning.getAttribute("data-ended");
        button.hidden = true;
        warning.hidden = false;
      } else if (remaining <= warnAt) {
        // "in 2 minutes" reads better than "in 111 seconds"; seconds in the last minute.
        var when = remaining > 90
          ? warning.getAttribute("data-minutes").replace("{m}", Math.ceil(remaining / 60))
          : warning.getAttribute("data-text").replace("{s}", remaining);
        text.textContent = when;
        button.hidden = false;
        warning.hidden = false;
      } else {
        warning.hidden = true;
      }
    };
    button.addEventListener("click", keepalive);
    // Typing in a form is activity too, though it sends nothing until submitted.
    document.addEventListener("input", function () {
      if (Date.now() - lastTouch > touchEvery && deadline > Date.now()) { keepalive(); }
    });
    setInterval(tick, 1000);
  }

  // Focus the error summary so keyboard and screen-reader users hear what to fix.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
