// Staff console helpers: donor search-as-you-type, the deposit's running total, and forms that
// can't be sent twice by a double-click. Every page still works without this file.
(function () {
  "use strict";

  // --- forms sent once: the server refuses a repeat too (one-time token); this stops the second click.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    });
  });

  // --- actions that are hard to take back ask first; without this script the server asks on a page.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      // A missing reason is the server's to point out first: no "can't be undone" before it.
      var reason = button.form.querySelector("[name=reason]");
      if (reason && !reason.value.trim()) return;
      if (!window.confirm(button.dataset.confirm)) { event.preventDefault(); return; }
      var form = button.form, yes = form.querySelector("input[name=confirm]");
      if (!yes) { yes = document.createElement("input"); yes.type = "hidden"; yes.name = "confirm"; form.appendChild(yes); }
      yes.value = "yes";
    });
  });

  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // --- donor picker
  function setupPicker(box) {
    var input = box.querySelector("input[role=combobox]");
    var hidden = box.querySelector("input[data-donor-id]");
    var list = box.querySelector("[role=listbox]");
    var timer = null, active = -1, results = [];

    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; }
    function highlight(i) {
      var items = list.querySelectorAll("li");
      items.forEach(function (li, n) { li.setAttribute("aria-selected", n === i ? "true" : "false"); });
      active = i;
      if (items[i]) { input.setAttribute("aria-activedescendant", items[i].id); items[i].scrollIntoView({ block: "nearest" }); }
    }
    function choose(i) {
      var d = results[i];
      if (!d) return;
      hidden.value = d.id;
      input.value = d.email ? d.name + " <" + d.email + ">" : d.name;
      close();
    }
    function render() {
      list.textContent = "";
      results.forEach(function (d, i) {
        var li = document.createElement("li");
        li.id = input.id + "-opt-" + i;
        li.setAttribute("role", "option");
        li.textContent = d.name + (d.email ? " · " + d.email : "") + (d.kind === "organisation" ? " (organisation)" : "") + (d.do_not_contact ? " · do not contact" : "");
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", results.length ? "true" : "false");
      if (results.length) highlight(0);
    }
    input.addEventListener("input", function () {
      hidden.value = "";
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { results = []; render(); return; }
      timer = setTimeout(function () {
        fetch(input.dataset.searchUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (data) { if (input.value.trim() === q) { results = data; render(); } })
          .catch(function () { results = []; render(); });
      }, 150);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(active + 1, results.length - 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (e.key === "Enter" || e.key === "Tab") { if (active >= 0) { if (e.key === "Enter") e.preventDefault(); choose(active); } }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  }
  document.querySelectorAll("[data-donor-picker]").forEach(setupPicker);

  // --- deposit: running total against the slip, and more rows
  var deposit = document.querySelector("form[data-deposit]");
  if (deposit) {
    var toCents = function (text) {
      var clean = (text || "").replace(/[\s,$€£¥]/g, "");
      if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
      var parts = clean.split(".");
      return parseInt(parts[0], 10) * 100 + (parts[1] ? parseInt((parts[1] + "0").slice(0, 2), 10) : 0);
    };
    var show = function (cents) { return cents === null ? "—" : (cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); };
    var update = function () {
      var total = 0, bad = false;
      deposit.querySelectorAll("[data-amount]").forEach(function (input) {
        if (!input.value.trim()) return;
        var c = toCents(input.value);
        if (c === null) bad = true; else total += c;
      });
      var slipInput = deposit.querySelector("[name=slip_total]");
      var slip = slipInput ? toCents(slipInput.value) : null;
      deposit.querySelector("[data-entered]").textContent = bad ? "check amounts" : show(total);
      deposit.querySelector("[data-slip]").textContent = show(slip);
      var diff = deposit.querySelector("[data-difference]");
      if (slip === null || bad) { diff.textContent = ""; diff.className = ""; return; }
      var d = total - slip;
      diff.textContent = d === 0 ? "Matches the slip" : (d > 0 ? "Over by " : "Short by ") + show(Math.abs(d));
      diff.className = d === 0 ? "is-ok" : "is-off";
    };
    deposit.addEventListener("input", update);
    update();
    // Keep a focused field clear of the sticky total bar (WCAG 2.4.11): scroll padding as tall as the bar.
    var bar = deposit.querySelector(".batch-total");
    var pad = function () { document.documentElement.style.scrollPaddingBottom = (bar.offsetHeight + 8) + "px"; };
    if (bar) { pad(); window.addEventListener("resize", pad); }
    var add = deposit.querySelector("[data-add-rows]");
    var count = deposit.querySelector("[data-row-count]");
    add.hidden = false;
    add.addEventListener("click", function () {
      var body = deposit.querySelector("[data-batch] tbody");
      var template = body.querySelector("tr[data-row]");
      for (var k = 0; k < 5; k++) {
        var n = parseInt(count.value, 10);
        var row = template.cloneNode(true);
        row.querySelectorAll("[id],[name],[for],[aria-controls]").forEach(function (el) {
          ["id", "name", "for", "aria-controls"].forEach(function (attr) {
            var v = el.getAttribute(attr);
            if (v) el.setAttribute(attr, v.replace(/rows-\d+-/, "rows-" + n + "-"));
          });
        });
        row.querySelectorAll("input").forEach(function (el) { if (el.type === "checkbox") el.checked = false; else el.value = ""; el.removeAttribute("aria-invalid"); });
        row.querySelectorAll("details").forEach(function (el) { el.open = false; });
        row.querySelectorAll("select").forEach(function (el) { el.selectedIndex = 0; });
        row.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
        row.firstElementChild.textContent = String(n + 1);
        body.appendChild(row);
        row.querySelectorAll("[data-donor-picker]").forEach(setupPicker);
        count.value = String(n + 1);
      }
    });
  }
})();

// --- import progress: poll the job's JSON until it is done, then show what it did.
(function () {
  "use strict";
  var box = document.querySelector("[data-import-progress]");
  if (!box) return;
  var statusLine = document.getElementById("import-status");
  var bar = document.getElementById("import-bar");
  var list = document.getElementById("import-summary");
  function poll() {
    fetch(box.dataset.importProgress, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        bar.max = job.total_rows || 1;
        bar.value = job.status === "running" ? job.done_rows : job.total_rows;
        if (job.status === "running") {
          statusLine.textContent = "Importing… " + job.done_rows + " of " + job.total_rows + " rows";
          setTimeout(poll, 1000);
          return;
        }
        statusLine.textContent = job.status === "done" ? "Done." : "The import stopped.";
        list.textContent = "";
        job.summary.forEach(function (line) {
          var li = document.createElement("li");
          li.textContent = line;
          list.appendChild(li);
        });
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (/Importing/.test(statusLine.textContent)) poll();
})();
