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
  var minCents = parseInt(form.dataset.minCents, 10);
  var maxCents = parseInt(form.dataset.maxCents, 10);
  var lang = document.documentElement.lang || "en-US";
  var fmt = new Intl.NumberFormat(lang, { style: "currency", currency: currency });
  var step = form.querySelector("[data-pay-step]");
  var continueButton = form.querySelector("[data-continue]");
  var continueRow = form.querySelector("[data-continue-row]");
  var payButton = form.querySelector("[data-pay-button]");
  var payError = form.querySelector("[data-pay-error]");
  var summary = form.querySelector("[data-pay-summary]");
  var consent = form.querySelector(".monthly-consent");
  var consentAmount = form.querySelector("[data-consent-amount]");
  var consentDate = form.querySelector("[data-consent-date]");
  var consentSchedule = form.querySelector("[data-consent-schedule]");
  var consentWord = form.querySelector("[data-consent-word]");
  // What each recurring frequency charges after today (recurring.SCHEDULES on the server).
  var SCHEDULES = {
    monthly: { word: "monthly", after: "on the same day each month", every: "every month" },
    quarterly: { word: "quarterly", after: "on the same day every three months", every: "every three months" },
    yearly: { word: "yearly", after: "on the same day each year", every: "every year" }
  };
  var stripe = null, elements = null, pending = null, replaced = null;
  var challenge = form.querySelector("[data-challenge]");
  var challengeWidget = null, challengeApi = null;

  // The human check (Turnstile or hCaptcha), loaded from its provider only when the server asks
  // for it. If the script can't load, the donor is told so plainly and offered another way to give.
  function challengeFailed() {
    challenge.querySelector("[data-challenge-failed]").hidden = false;
    continueButton.disabled = true; // for good, not while waiting: no card payment from here
  }
  function renderChallenge() {
    var api = window[challenge.dataset.provider === "hcaptcha" ? "hcaptcha" : "turnstile"];
    if (!api || typeof api.render !== "function") { challengeFailed(); return; }
    challengeApi = api;
    challengeWidget = api.render(challenge.querySelector("[data-challenge-widget]"), {
      sitekey: challenge.dataset.siteKey,
      callback: function (token) { form.elements.captcha_token.value = token; },
      "expired-callback": function () { form.elements.captcha_token.value = ""; },
      "error-callback": challengeFailed
    });
  }
  function showChallenge() {
    if (!challenge) return;
    challenge.hidden = false;
    if (challengeApi) {
      // A token works once: after a submission the donor answers a fresh check.
      form.elements.captcha_token.value = "";
      challengeApi.reset(challengeWidget);
      return;
    }
    if (challenge.dataset.loading) return;
    challenge.dataset.loading = "1";
    var script = document.createElement("script");
    script.src = challenge.dataset.script;
    script.async = true;
    var timer = setTimeout(challengeFailed, 15000);
    script.onload = function () { clearTimeout(timer); renderChallenge(); };
    script.onerror = function () { clearTimeout(timer); challengeFailed(); };
    document.head.appendChild(script);
  }

  function minorUnits() { return new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits; }
  // The amount typed, read as the server reads it (money.parse_amount): a comma or point before
  // one or two digits is the decimal mark ("25,50" is 25.50). Unclear input gives 0 (no preview).
  function typedMajor(raw) {
    var text = (raw || "").replace(/[^0-9.,]/g, "");
    var last = Math.max(text.lastIndexOf("."), text.lastIndexOf(","));
    if (last < 0) return text;
    var frac = text.slice(last + 1), whole = text.slice(0, last).replace(/[.,]/g, "");
    if (frac.length === 3 && text.indexOf(text[last]) === last && minorUnits() !== 3) return null;
    if (frac.length === 3 || text.indexOf(text[last]) !== last) return whole + frac; // grouping only
    return whole + "." + frac;
  }
  function baseCents() {
    var choice = form.querySelector("input[name=amount]:checked");
    if (choice && choice.value !== "other") return parseInt(choice.value, 10);
    var raw = typedMajor(form.elements.custom_amount.value);
    if (!raw) return 0;
    var parts = raw.split(".");
    var digits = minorUnits();
    var frac = ((parts[1] || "") + "000").slice(0, digits);
    return parseInt(parts[0] || "0", 10) * Math.pow(10, digits) + (digits ? parseInt(frac, 10) : 0);
  }
  // Same integer formula as donations.fee_to_cover on the server.
  function feeFor(cents) { return Math.ceil(((cents + feeFixed) * 10000) / (10000 - feeBps)) - cents; }
  function money(cents) { return fmt.format(cents / Math.pow(10, minorUnits())); }
  function today() { return new Date().toLocaleDateString(lang, { month: "long", day: "numeric", year: "numeric" }); }
  function schedule() {
    var choice = form.querySelector("input[name=frequency]:checked");
    return choice ? SCHEDULES[choice.value] || null : null;
  }
  // While a request is out the button stays focusable and announced, only marked unavailable:
  // `disabled` would drop focus to the page body (WCAG 2.4.3).
  function busy(button, on) {
    if (on) button.setAttribute("aria-disabled", "true"); else button.removeAttribute("aria-disabled");
  }
  function isBusy(button) { return button.getAttribute("aria-disabled") === "true"; }
  function refresh() {
    var cents = baseCents();
    // An amount outside what may be given gets no preview: the form will refuse it anyway.
    if (!(cents >= minCents && cents <= maxCents)) cents = 0;
    var fee = cents > 0 ? feeFor(cents) : 0;
    var preview = form.querySelector("[data-fee-preview]");
    preview.textContent = cents > 0 ? "(+" + money(fee) + ")" : "";
    // The consent step names what will be charged, and when, before the donor agrees to it.
    var covered = form.elements.cover_fee && form.elements.cover_fee.checked;
    consentAmount.textContent = cents > 0 ? money(cents + (covered ? fee : 0)) : "the amount above";
    consentDate.textContent = ", " + today();
    var plan = schedule();
    consent.hidden = !plan;
    if (plan) { consentSchedule.textContent = plan.after; consentWord.textContent = plan.word; }
  }
  // Typing an amount in "Other" chooses it; choosing a suggested amount clears what was typed.
  var otherRadio = form.querySelector("input[name=amount][value=other]");
  form.elements.custom_amount.addEventListener("input", function () {
    if (otherRadio && form.elements.custom_amount.value.trim()) otherRadio.checked = true;
  });
  form.querySelectorAll("input[name=amount]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked && radio.value !== "other") form.elements.custom_amount.value = "";
    });
  });
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();

  function onPage() { return form.dataset.checkoutOnly !== "true" && typeof window.Stripe === "function"; }
  // Stripe.js's own error text is never shown: the donor reads what happened in our words, that
  // nothing was charged (true whenever confirmation fails), and how to reach a person.
  var PAY_PROBLEMS = {
    card_declined: "Your card was declined.",
    insufficient_funds: "Your card was declined for insufficient funds.",
    expired_card: "Your card has expired.",
    incorrect_cvc: "The card's security code is incorrect.",
    incorrect_number: "The card number is incorrect.",
    processing_error: "Your card couldn't be processed just now; please try again.",
    payment_intent_authentication_failure: "Your bank's confirmation step wasn't completed."
  };
  function payProblem(error) {
    var what = error.type === "validation_error" ? "Please complete your payment details above."
      : PAY_PROBLEMS[error.decline_code] || PAY_PROBLEMS[error.code] || "Your payment didn't go through.";
    return [what, "Nothing was charged.", payError.dataset.contact || ""].join(" ").trim();
  }
  function showError(message) { payError.textContent = message; payError.hidden = !message; }
  // Where a field's error goes: the elements marked invalid, the one to focus, and the element it sits in.
  // Radio groups are marked on their fieldset (as the server does); for the amount, the "Other" box
  // is what the donor typed into, so it is marked and focused when "Other" is chosen.
  function control(name) {
    var input = form.elements[name];
    if (!input) return null;
    if (input.tagName) {
      return { marks: [input], focus: input, holder: input.closest(".field, fieldset, .monthly-consent") || input.parentNode };
    }
    var radios = Array.prototype.slice.call(input);
    var group = radios[0].closest("fieldset") || radios[0].parentNode;
    var checked = radios.filter(function (r) { return r.checked; })[0];
    var c = { marks: [group], focus: checked || radios[0], holder: group };
    if (name === "amount" && form.elements.custom_amount) {
      c.marks.push(form.elements.custom_amount);
      if (!checked || checked.value === "other") c.focus = form.elements.custom_amount;
    }
    return c;
  }
  // A control inside a closed section (the dedication) is opened first, so focus lands where it is seen.
  function reveal(el) {
    for (var d = el.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
    el.focus();
  }
  function focusFirst(elements) {
    // The first in the page, not the first in the server's (alphabetical) JSON.
    var first = null;
    elements.forEach(function (el) {
      if (el && (!first || (first.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING))) first = el;
    });
    if (first) reveal(first);
  }
  function clearFieldErrors() {
    form.querySelectorAll(".field-error, [data-error-summary]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid"); el.removeAttribute("aria-describedby");
    });
  }
  function fieldErrors(fields) {
    var targets = [], unplaced = [];
    Object.keys(fields).forEach(function (name) {
      var c = control(name);
      if (!c) { unplaced.push(fields[name]); return; }
      var span = document.createElement("span");
      span.className = "field-error"; span.dataset.js = "1"; span.id = name + "-error"; span.textContent = fields[name];
      c.holder.appendChild(span);
      c.marks.forEach(function (el) { el.setAttribute("aria-invalid", "true"); el.setAttribute("aria-describedby", span.id); });
      targets.push(c.focus);
    });
    if (unplaced.length) showError(unplaced.join(" "));
    focusFirst(targets);
  }

  form.addEventListener("submit", function (event) {
    if (!onPage()) return; // let the browser post to the Checkout path
    event.preventDefault();
    if (isBusy(continueButton)) return;
    clearFieldErrors(); showError("");
    busy(continueButton, true);
    var body = new FormData(form);
    if (replaced) { body.append("replaces", replaced.attempt); body.append("replace_token", replaced.replace_token); }
    fetch(form.dataset.api, { method: "POST", body: body, headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; }); })
      .then(function (res) {
        busy(continueButton, false);
        if (!res.ok) {
          var err = res.body.error || {};
          if (err.fields) fieldErrors(err.fields); else { showError(err.message || "Something went wrong. Nothing was charged."); continueButton.focus(); }
          // The processor is unreachable: the other way to give, as the server's own page offers it.
          if (res.status === 503) form.querySelector("[data-processor-down]").hidden = false;
          if (err.challenge) showChallenge();
          return;
        }
        replaced = null;
        if (challenge && !challenge.hidden && challengeApi) { form.elements.captcha_token.value = ""; challengeApi.reset(challengeWidget); }
        pending = res.body;
        stripe = stripe || window.Stripe(form.dataset.publishableKey);
        elements = stripe.elements({ clientSecret: pending.client_secret });
        var container = form.querySelector("[data-payment-element]");
        container.innerHTML = "";
        elements.create("payment").mount(container);
        var amount = fmt.format(pending.amount_cents / Math.pow(10, minorUnits()));
        var plan = SCHEDULES[pending.frequency];
        summary.textContent = plan
          ? "You're giving " + amount + " " + plan.every + ". The first charge is today, " + today() + ", then " + plan.after + " until you cancel (the link is in every receipt)."
          : "You're giving " + amount + " once, today.";
        step.hidden = false; continueRow.hidden = true;
        summary.focus && summary.setAttribute("tabindex", "-1"); summary.focus();
      })
      .catch(function () {
        busy(continueButton, false);
        showError("We couldn't reach the server. Nothing was charged; please try again.");
        continueButton.focus(); // a control to try again from, never the page body
      });
  });

  payButton.addEventListener("click", function () {
    if (!pending || isBusy(payButton)) return;
    busy(payButton, true); showError("");
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: pending.return_url } })
      .then(function (result) {
        // Only reached when confirmation fails; success redirects to the thank-you page.
        busy(payButton, false);
        if (result.error) { showError(payProblem(result.error)); payButton.focus(); }
      });
  });
  // "Change my details": the next Continue replaces this payment, and the server cancels it at Stripe.
  form.querySelector("[data-pay-back]").addEventListener("click", function () {
    replaced = pending;
    step.hidden = true; continueRow.hidden = false; pending = null; showError("");
    // The button pressed is gone: focus the amount, the first detail a donor comes back to change.
    var chosen = form.querySelector("input[name=amount]:checked") || form.querySelector("input[name=amount]");
    (chosen && chosen.value === "other" ? form.elements.custom_amount : chosen || continueButton).focus();
  });
  if (challenge && !challenge.hidden) showChallenge();
  // In the widget the form posts to a new tab unless Stripe.js lets it pay here: say which.
  function newTabHint() { var hint = form.querySelector("[data-new-tab]"); if (hint) hint.hidden = onPage(); }
  newTabHint();
  window.addEventListener("load", newTabHint);

  // The phone's donate bar jumps to this form: once the form fills the screen it is not needed.
  var bar = document.querySelector("[data-donate-bar]"), give = form.closest("#give");
  if (bar && give && window.IntersectionObserver) {
    new IntersectionObserver(function (entries) { bar.hidden = entries[0].isIntersecting; },
      { rootMargin: "0px 0px -40% 0px" }).observe(give);
  }

  // Back from the server (no Stripe.js) with problems: take the donor to the first one, so it is
  // seen and read out, rather than leaving them at the top of a reloaded page. After the page has
  // loaded: the browser's jump to #give (Checkout's cancel link) would otherwise take focus away.
  function focusFirstProblem() {
    var invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) {
      var named = invalid.tagName === "FIELDSET" ? invalid.querySelector("input[name]") : invalid;
      var c = named && control(named.name);
      if (c) reveal(c.focus);
    } else {
      var notice = form.querySelector(".form-error[role=alert]:not([hidden])");
      if (notice) { notice.setAttribute("tabindex", "-1"); notice.focus(); }
    }
  }
  if (document.readyState === "complete") focusFirstProblem();
  else window.addEventListener("load", function () { setTimeout(focusFirstProblem, 0); });
})();
