// Donate form: pay on the page with Stripe's Payment Element when Stripe.js is available.
// Without it (blocked, offline, or STRIPE_CHECKOUT_ONLY) the form posts to the server, which sends
// the donor to Stripe Checkout. Nothing here is required for giving to work.
(function () {
  "use strict";
  var form = document.querySelector("form[data-donate]");
  if (!form) return;
  var currency = form.dataset.currency;
  var feeBps = parseInt(form.dataset.feeBps, 10);
  var feeFixed = parseInt(form.dataset.feeFixed, 10);
  var fmt = new Intl.NumberFormat(document.documentElement.lang || "en-US", { style: "currency", currency: currency });
  var step = form.querySelector("[data-pay-step]");
  var continueButton = form.querySelector("[data-continue]");
  var payButton = form.querySelector("[data-pay-button]");
  var payError = form.querySelector("[data-pay-error]");
  var summary = form.querySelector("[data-pay-summary]");
  var consent = form.querySelector(".monthly-consent");
  var stripe = null, elements = null, pending = null;

  function minorUnits() { return new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits; }
  function baseCents() {
    var choice = form.querySelector("input[name=amount]:checked");
    if (choice && choice.value !== "other") return parseInt(choice.value, 10);
    var raw = (form.elements.custom_amount.value || "").replace(/[^0-9.]/g, "");
    if (!raw) return 0;
    var parts = raw.split(".");
    var digits = minorUnits();
    var frac = ((parts[1] || "") + "000").slice(0, digits);
    return parseInt(parts[0] || "0", 10) * Math.pow(10, digits) + (digits ? parseInt(frac, 10) : 0);
  }
  // Same integer formula as donations.fee_to_cover on the server.
  function feeFor(cents) { return Math.ceil(((cents + feeFixed) * 10000) / (10000 - feeBps)) - cents; }
  function monthly() { return form.querySelector("input[name=frequency]:checked").value === "monthly"; }
  function refresh() {
    var cents = baseCents();
    var preview = form.querySelector("[data-fee-preview]");
    preview.textContent = cents > 0 ? "(+" + fmt.format(feeFor(cents) / Math.pow(10, minorUnits())) + ")" : "";
    consent.hidden = !monthly();
  }
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();

  function onPage() { return form.dataset.checkoutOnly !== "true" && typeof window.Stripe === "function"; }
  function showError(message) { payError.textContent = message; payError.hidden = !message; }
  function clearFieldErrors() {
    form.querySelectorAll(".field-error[data-js]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }
  function fieldErrors(fields) {
    var first = null;
    Object.keys(fields).forEach(function (name) {
      var input = form.elements[name];
      var target = input && (input.length && !input.tagName ? input[0] : input);
      var span = document.createElement("span");
      span.className = "field-error"; span.dataset.js = "1"; span.id = name + "-js-error"; span.textContent = fields[name];
      var holder = target ? (target.closest("fieldset, .field, .monthly-consent") || target.parentNode) : form;
      holder.appendChild(span);
      if (target && target.setAttribute) { target.setAttribute("aria-invalid", "true"); target.setAttribute("aria-describedby", span.id); }
      first = first || target;
    });
    if (first && first.focus) first.focus();
  }

  form.addEventListener("submit", function (event) {
    if (!onPage()) return; // let the browser post to the Checkout path
    event.preventDefault();
    clearFieldErrors(); showError("");
    continueButton.disabled = true;
    fetch(form.dataset.api, { method: "POST", body: new FormData(form), headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        continueButton.disabled = false;
        if (!res.ok) {
          var err = res.body.error || {};
          if (err.fields) fieldErrors(err.fields); else showError(err.message || "Something went wrong. Nothing was charged.");
          if (!err.fields) { step.hidden = false; }
          return;
        }
        pending = res.body;
        stripe = stripe || window.Stripe(form.dataset.publishableKey);
        elements = stripe.elements({ clientSecret: pending.client_secret });
        var container = form.querySelector("[data-payment-element]");
        container.innerHTML = "";
        elements.create("payment").mount(container);
        var amount = fmt.format(pending.amount_cents / Math.pow(10, minorUnits()));
        var today = new Date().toLocaleDateString(undefined, { month: "long", day: "numeric", year: "numeric" });
        summary.textContent = pending.frequency === "monthly"
          ? "You're giving " + amount + " every month. The first charge is today, " + today + ", then on the same day each month until you cancel (the link is in every receipt)."
          : "You're giving " + amount + " once, today.";
        step.hidden = false; continueButton.hidden = true;
        summary.focus && summary.setAttribute("tabindex", "-1"); summary.focus();
      })
      .catch(function () { continueButton.disabled = false; showError("We couldn't reach the server. Nothing was charged; please try again."); });
  });

  payButton.addEventListener("click", function () {
    if (!pending) return;
    payButton.disabled = true; showError("");
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: pending.return_url } })
      .then(function (result) {
        // Only reached when confirmation fails; success redirects to the thank-you page.
        payButton.disabled = false;
        if (result.error) showError(result.error.message + " Nothing was charged.");
      });
  });
  form.querySelector("[data-pay-back]").addEventListener("click", function () {
    step.hidden = true; continueButton.hidden = false; pending = null;
  });
})();
