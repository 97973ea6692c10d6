// Live progress bars. The server renders every figure, so without this script the page is simply
// static. With it, each bar listens to Server-Sent Events (one stream for all bars on the page) and
// falls back to polling the ETag'd progress JSON where streams are blocked.
(function () {
  "use strict";
  var bars = Array.prototype.slice.call(document.querySelectorAll("[data-progress]"));
  var matchLists = Array.prototype.slice.call(document.querySelectorAll("[data-matches]"));
  if (!bars.length) return;

  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var ANNOUNCE_EVERY_MS = 15000;
  var POLL_MS = 1500;          // fallback polling: unchanged progress costs a 304 served from memory
  var ACTIVITY_EVERY = 8;      // ...and the activity JSON every 8th round (about 12 s)
  var MAX_BACKOFF_MS = 60000;  // an overloaded server (429, 5xx, no answer) is asked ever less often, up to this
  var slugs = [];
  bars.forEach(function (bar) { if (slugs.indexOf(bar.dataset.slug) < 0) slugs.push(bar.dataset.slug); });

  // Same rule as money.format_money on the server: whole=true drops the decimals of whole amounts only.
  var formatters = {};
  function money(cents, currency, whole) {
    if (!formatters[currency]) {
      var digits = new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits;
      var lang = document.documentElement.lang || "en-US";
      formatters[currency] = { digits: digits,
        full: new Intl.NumberFormat(lang, { style: "currency", currency: currency }),
        whole: new Intl.NumberFormat(lang, { style: "currency", currency: currency, minimumFractionDigits: 0, maximumFractionDigits: 0 }) };
    }
    var f = formatters[currency], unit = Math.pow(10, f.digits);
    // Headlines show whole units, rounded down (money.format_headline); exact figures show cents.
    return whole ? f.whole.format(Math.trunc(cents / unit)) : f.full.format(cents / unit);
  }
  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }
  function setText(root, name, text) { var el = field(root, name); if (el && el.textContent !== text) el.textContent = text; }

  // Count the amount up from what is shown to the new value (instant with reduced motion).
  function animate(bar, from, to, currency) {
    var raisedEl = field(bar, "raised");
    var fill = bar.querySelector(".progress__fill");
    var goal = parseInt(bar.dataset.goal, 10);
    function draw(cents) {
      raisedEl.textContent = money(cents, currency, true);
      var width = goal > 0 ? Math.min(100, Math.max(0, cents * 100 / goal)) : 0;
      fill.setAttribute("width", width.toFixed(2));
    }
    if (bar._frame) cancelAnimationFrame(bar._frame);
    if (reducedMotion || from === to || !window.requestAnimationFrame) { draw(to); return; }
    var start = null, duration = 900;
    function step(now) {
      if (start === null) start = now;
      var t = Math.min(1, (now - start) / duration);
      var eased = 1 - Math.pow(1 - t, 3);
      draw(Math.round(from + (to - from) * eased));
      if (t < 1) bar._frame = requestAnimationFrame(step); else bar._frame = null;
    }
    bar._frame = requestAnimationFrame(step);
  }

  function celebrate(bar, milestone) {
    var box = field(bar, "celebrate");
    if (!box) return;
    // Shown before its text changes, so screen readers announce it (role=status).
    box.hidden = false;
    box.textContent = milestone >= 100 ? "We reached the goal! Thank you!" : "We just passed " + milestone + "% of the goal!";
    box.classList.remove("is-playing");
    void box.offsetWidth; // restart the animation
    if (!reducedMotion) box.classList.add("is-playing");
    clearTimeout(bar._celebrateTimer);
    bar._celebrateTimer = setTimeout(function () { box.hidden = true; box.classList.remove("is-playing"); }, 8000);
  }

  // Screen readers hear the latest figure politely, at most every ANNOUNCE_EVERY_MS.
  function announce(bar, text) {
    var region = field(bar, "announce");
    if (!region) return;
    bar._pendingAnnouncement = text;
    if (bar._announceTimer) return;
    var wait = Math.max(0, (bar._lastAnnounced || 0) + ANNOUNCE_EVERY_MS - Date.now());
    bar._announceTimer = setTimeout(function () {
      region.textContent = bar._pendingAnnouncement;
      bar._lastAnnounced = Date.now();
      bar._announceTimer = null;
    }, wait);
  }

  function applyProgress(p) {
    bars.forEach(function (bar) {
      if (bar.dataset.slug !== p.slug) return;
      var before = parseInt(bar.dataset.raised, 10);
      var beforePercent = parseFloat(bar.dataset.percent);
      if (before === p.raised_cents && bar.dataset.goal === String(p.goal_cents) && bar.dataset.donors === String(p.donor_count)) return;
      bar.dataset.raised = p.raised_cents;
      bar.dataset.goal = p.goal_cents;
      bar.dataset.percent = p.percent;
      bar.dataset.donors = p.donor_count;
      animate(bar, before, p.raised_cents, p.currency);
      var raised = money(p.raised_cents, p.currency, true), goal = money(p.goal_cents, p.currency, true);
      setText(bar, "goal", goal);
      setText(bar, "percent", p.percent + "%");
      setText(bar, "donor_count", String(p.donor_count));
      setText(bar, "donor_word", p.donor_count === 1 ? "donor" : "donors");
      var track = bar.querySelector("[role=progressbar]");
      track.setAttribute("aria-valuemax", (p.goal_cents / 100).toFixed(2));
      track.setAttribute("aria-valuenow", (Math.min(p.raised_cents, p.goal_cents) / 100).toFixed(2));
      track.setAttribute("aria-valuetext", raised + " of " + goal + " raised (" + p.percent + "%)");
      bar.classList.toggle("progress--empty", p.raised_cents <= 0);
      var empty = field(bar, "empty"); if (empty) empty.hidden = p.raised_cents > 0;
      var crossed = null;
      bar.querySelectorAll("[data-milestone]").forEach(function (li) {
        var m = parseInt(li.dataset.milestone, 10), reached = p.percent >= m;
        if (reached && beforePercent < m) crossed = m;
        li.classList.toggle("is-reached", reached);
        setText(li, "milestone-state", reached ? "reached" : "not yet");
      });
      var stretch = field(bar, "stretch");
      if (stretch) {
        stretch.hidden = p.percent < 100;
        setText(bar, "stretch_percent", String(Math.floor(p.raised_cents * 100 / parseInt(bar.dataset.stretch, 10))));
      }
      if (crossed !== null) celebrate(bar, crossed);
      announce(bar, raised + " raised of " + goal + " goal, " + p.percent + " percent, from " + p.donor_count + (p.donor_count === 1 ? " donor." : " donors."));
    });
    matchLists.forEach(function (list) {
      if (list.dataset.slug !== p.slug) return;
      list.dataset.raised = p.raised_cents;
      setText(list, "given", money(p.raised_cents, p.currency));
      updateMatchTotal(list, p.currency);
    });
    document.querySelectorAll('[data-gift-count][data-slug="' + p.slug + '"]').forEach(function (el) { el.textContent = String(p.gift_count); });
  }

  function updateMatchTotal(list, currency) {
    var matched = parseInt(list.dataset.matched || "0", 10), raised = parseInt(list.dataset.raised, 10);
    setText(list, "matched", money(matched, currency));
    setText(list, "with_matches", money(raised + matched, currency));
  }

  // "Recent supporters", redrawn from the live snapshot: new gifts appear, and a name or comment
  // staff hide disappears. Text only (never HTML), so nothing a donor typed can run here.
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function applySupporters(a) {
    if (!a.supporters) return;
    var key = JSON.stringify(a.supporters);
    document.querySelectorAll('[data-supporters][data-slug="' + a.slug + '"]').forEach(function (list) {
      if (list._shown === key) return;
      list._shown = key;
      var items = a.supporters.map(function (s) {
        var li = el("li"), line = el("p", "supporter__name");
        line.appendChild(el("strong", "", s.name));
        if (s.amount) line.appendChild(document.createTextNode(" · " + s.amount));
        line.appendChild(document.createTextNode(" "));
        line.appendChild(el("span", "muted", "· " + s.date));
        li.appendChild(line);
        if (s.dedication) li.appendChild(el("p", "muted", s.dedication));
        if (s.comment) li.appendChild(el("blockquote", "", s.comment));
        return li;
      });
      list.replaceChildren.apply(list, items);
      list.hidden = items.length === 0;
      var empty = document.querySelector('[data-supporters-empty="' + a.slug + '"]');
      if (empty) empty.hidden = items.length > 0;
    });
  }

  var STATE_TEXT = { full: "(fully unlocked, thank you!)", ended: "(ended)", next: "(starts when the one before is full)" };
  function applyActivity(a) {
    applySupporters(a);
    document.querySelectorAll('[data-field="recent_count"][data-slug="' + a.slug + '"]').forEach(function (el) {
      el.textContent = String(a.gifts_last_hour);
      var word = el.parentNode.querySelector('[data-field="recent_word"]');
      if (word) word.textContent = a.gifts_last_hour === 1 ? "gift" : "gifts";
    });
    matchLists.forEach(function (list) {
      if (list.dataset.slug !== a.slug) return;
      var currency = null;
      bars.forEach(function (bar) { if (bar.dataset.slug === a.slug) currency = bar.dataset.currency; });
      list.dataset.matched = a.matched_cents;
      a.matches.forEach(function (m) {
        var li = list.querySelector('[data-match="' + m.id + '"]');
        if (!li) return;
        setText(li, "match-unlocked", money(m.unlocked_cents, currency));
        setText(li, "match-remaining", money(m.remaining_cents, currency));
        var fill = field(li, "match-fill");
        if (fill) fill.setAttribute("width", String(Math.floor(m.unlocked_cents * 100 / m.cap_cents)));
        if (STATE_TEXT[m.state] !== undefined) setText(li, "match-state", STATE_TEXT[m.state]);
        li.className = "match match--" + m.state;
      });
      updateMatchTotal(list, currency);
    });
  }

  // The thank-you page hands over the progress it fetched with the gift's status.
  document.addEventListener("fundraiser:progress", function (e) { applyProgress(e.detail); });

  function streamUrl() {
    if (slugs.length === 1) return "/api/campaigns/" + encodeURIComponent(slugs[0]) + "/progress/stream";
    return "/api/progress/stream?" + slugs.map(function (s) { return "slug=" + encodeURIComponent(s); }).join("&");
  }

  function retryAfter(r) {
    var seconds = parseInt(r.headers.get("Retry-After"), 10);
    return isNaN(seconds) ? 0 : Math.min(MAX_BACKOFF_MS, seconds * 1000);
  }

  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    document.documentElement.dataset.live = "polling";
    var round = 0, waitMs = POLL_MS;
    function once() {
      var withActivity = round % ACTIVITY_EVERY === 0;
      round += 1;
      var busy = false;
      function json(r) {
        // 429 (a proxy's rate limit) or 5xx: the server is overloaded, so ask less often.
        if (r.status === 429 || r.status >= 500) { busy = true; waitMs = Math.max(waitMs, retryAfter(r)); }
        return r.ok ? r.json() : null;
      }
      var requests = slugs.map(function (slug) {
        var base = "/api/campaigns/" + encodeURIComponent(slug);
        // The browser revalidates with If-None-Match itself: unchanged progress costs a 304.
        return Promise.all([
          fetch(base + "/progress", { cache: "no-cache" }).then(json),
          withActivity ? fetch(base + "/activity", { cache: "no-cache" }).then(json) : null
        ]).then(function (both) { if (both[0]) applyProgress(both[0]); if (both[1]) applyActivity(both[1]); });
      });
      Promise.all(requests).catch(function () { busy = true; }).then(function () {
        waitMs = busy ? Math.min(MAX_BACKOFF_MS, Math.max(waitMs * 2, POLL_MS * 2)) : POLL_MS;
        setTimeout(once, waitMs);
      });
    }
    once();
  }

  function stream() {
    if (!window.EventSource) { poll(); return; }
    var failuresBeforeOpen = 0, opened = false;
    var source = new EventSource(streamUrl());
    source.addEventListener("open", function () { opened = true; failuresBeforeOpen = 0; document.documentElement.dataset.live = "stream"; });
    source.addEventListener("progress", function (e) { applyProgress(JSON.parse(e.data)); });
    source.addEventListener("activity", function (e) { applyActivity(JSON.parse(e.data)); });
    source.addEventListener("closed", function () { source.close(); });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself after a dropped stream. A refused one (429: the server's
      // cap on open streams, or a proxy's) closes it for good; a proxy that never lets a stream
      // open means the same: poll instead.
      if (!opened) failuresBeforeOpen += 1;
      opened = false;
      if (failuresBeforeOpen >= 3 || source.readyState === EventSource.CLOSED) { source.close(); poll(); }
    });
  }
  stream();

  // "Ends in 5 h 12 min" when the end is near, kept current without a reload.
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    var ends = new Date(el.dataset.endsAt).getTime();
    function tick() {
      var left = Math.max(0, ends - Date.now());
      var hours = Math.floor(left / 3600000), minutes = Math.floor((left % 3600000) / 60000);
      el.textContent = left <= 0 ? "Ended" : (hours ? hours + " h " : "") + minutes + " min";
      if (left > 0) setTimeout(tick, 30000);
    }
    tick();
  });
})();
