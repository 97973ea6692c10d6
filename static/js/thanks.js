// Thank-you page: ask the server until Stripe's webhook has recorded the gift, then say so.
(function () {
  "use strict";
  var box = document.querySelector("[data-thanks]");
  if (!box) return;
  var state = box.querySelector("[data-thanks-state]");
  var tries = 0;
  // Stripe.js brings the donor here after paying (or after a bank's check that failed): what it
  // says about this payment outranks a decline heard earlier on the same payment.
  var redirect = new URLSearchParams(window.location.search).get("redirect_status");
  // The payment was declined, the bank debit failed or checkout expired: say so and offer a way back.
  function failed() {
    state.innerHTML = "";
    var p = document.createElement("p"); p.className = "form-error"; p.setAttribute("data-failed", "");
    p.appendChild(document.createTextNode("Your payment didn't go through, so nothing was charged. "));
    var again = document.createElement("a"); again.href = box.dataset.retryUrl; again.textContent = "Try again";
    p.appendChild(again);
    p.appendChild(document.createTextNode(" with the same details, or another card or bank account. " + (box.dataset.contact || "")));
    state.appendChild(p);
  }
  function check() {
    fetch(box.dataset.statusUrl, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === "recorded") {
          var fmt = new Intl.NumberFormat(document.documentElement.lang || "en-US", { style: "currency", currency: body.currency });
          var digits = fmt.resolvedOptions().maximumFractionDigits;
          state.innerHTML = "";
          var p = document.createElement("p"); p.className = "lede";
          p.textContent = "Your " + (body.frequency && body.frequency !== "once" ? body.frequency + " " : "") + "gift of " +
            fmt.format(body.amount_cents / Math.pow(10, digits)) + " has been received. Your receipt is on its way.";
          state.appendChild(p);
          // progress.js brings the bar on this page up to date.
          document.dispatchEvent(new CustomEvent("fundraiser:progress", { detail: body.progress }));
          return;
        }
        // Stripe.js said this payment went through: a failure heard before it was an earlier try.
        if (body.status === "failed" && redirect !== "succeeded") { failed(); return; }
        tries += 1;
        if (tries < 60) setTimeout(check, Math.min(1000 + tries * 250, 5000));
      })
      .catch(function () { tries += 1; if (tries < 60) setTimeout(check, 3000); });
  }
  if (box.dataset.recorded === "true") return;
  if (redirect === "failed") failed(); else check();
})();

// The copy-link button: shown only where the browser can copy; the link stays selectable either way.
(function () {
  "use strict";
  var button = document.querySelector("[data-copy-link]");
  var source = document.querySelector("[data-copy-source]");
  var status = document.querySelector("[data-copy-status]");
  if (!button || !source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(source.value).then(
      function () { status.textContent = "Link copied."; },
      function () { source.select(); status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected link."; }
    );
  });
})();
