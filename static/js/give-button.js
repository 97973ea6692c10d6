// The "Donate" button organisations paste on their own site, next to (or instead of) the iframe:
//   <script src="https://give.example.org/static/js/give-button.js"
//           data-campaign="https://give.example.org/embed/campaigns/giving-tuesday" data-label="Donate" defer></script>
// It adds a button that opens the campaign's donate form in an overlay on their page. The dialog
// keeps focus inside it, closes with Escape (also pressed inside the form: embed.js tells us), and
// gives focus back to the button. The iframe has allow="payment" so wallets work inside it.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.campaign) return;
  var formUrl = new URL(script.dataset.campaign, script.src);
  formUrl.searchParams.set("give", "1");
  var label = script.dataset.label || "Donate";

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-haspopup", "dialog");
  css(button, { background: "#1d4e89", color: "#fff", border: "0", borderRadius: "8px", padding: ".7rem 1.4rem",
    font: "inherit", fontWeight: "600", minHeight: "44px", cursor: "pointer" });
  script.parentNode.insertBefore(button, script.nextSibling);

  var overlay = null, lastFocus = null, bodyOverflow = "";
  function css(el, styles) { Object.keys(styles).forEach(function (k) { el.style[k] = styles[k]; }); }
  // A focus ring of our own, inline: a theme's `button { all: unset }` would remove the browser's.
  function ring(el) {
    el.addEventListener("focus", function () {
      if (!el.matches || el.matches(":focus-visible")) css(el, { outline: "3px solid #1d4e89", outlineOffset: "2px" });
    });
    el.addEventListener("blur", function () { css(el, { outline: "", outlineOffset: "" }); });
  }
  ring(button);
  // Tab from the last control (or Shift+Tab from the first) wraps around inside the dialog.
  function sentinel(onFocus) {
    var s = document.createElement("span");
    s.tabIndex = 0;
    s.addEventListener("focus", onFocus);
    return s;
  }

  function open() {
    lastFocus = document.activeElement;
    overlay = document.createElement("div");
    css(overlay, { position: "fixed", inset: "0", zIndex: "2147483000", background: "rgba(0,0,0,.6)",
      display: "flex", alignItems: "center", justifyContent: "center", padding: "8px" });
    var dialog = document.createElement("div");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-label", label);
    css(dialog, { position: "relative", background: "#fff", borderRadius: "12px", width: "100%", maxWidth: "440px",
      height: "100%", maxHeight: "760px", display: "flex", flexDirection: "column", overflow: "hidden" });
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    css(close, { alignSelf: "flex-end", margin: "6px", background: "#fff", color: "#1d4e89", border: "2px solid #1d4e89",
      borderRadius: "8px", padding: ".3rem .8rem", font: "inherit", minHeight: "44px", cursor: "pointer" });
    close.addEventListener("click", shut);
    ring(close);
    var frame = document.createElement("iframe");
    frame.src = formUrl.href;
    frame.title = label;
    frame.setAttribute("allow", "payment");
    css(frame, { border: "0", width: "100%", flex: "1" });
    dialog.appendChild(sentinel(function () { frame.focus(); }));
    dialog.appendChild(close);
    dialog.appendChild(frame);
    dialog.appendChild(sentinel(function () { close.focus(); }));
    overlay.appendChild(dialog);
    overlay.addEventListener("click", function (e) { if (e.target === overlay) shut(); });
    document.body.appendChild(overlay);
    bodyOverflow = document.body.style.overflow;
    document.body.style.overflow = "hidden";
    close.focus();
  }
  function shut() {
    if (!overlay) return;
    overlay.remove();
    overlay = null;
    document.body.style.overflow = bodyOverflow;
    (lastFocus && lastFocus.focus ? lastFocus : button).focus();
  }
  button.addEventListener("click", open);
  document.addEventListener("keydown", function (e) { if (overlay && e.key === "Escape") shut(); });
  window.addEventListener("message", function (e) {
    if (overlay && e.origin === formUrl.origin && e.data && e.data.type === "fundraiser:close") shut();
  });
})();
