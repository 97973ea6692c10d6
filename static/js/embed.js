// The widget in its iframe on the organisation's page. It tells the page how tall it is
// (widget-frame.js there sizes the iframe to fit), and inside a give-button.js overlay Escape
// pressed in the form closes the overlay (the key never reaches the page across the frame).
(function () {
  "use strict";
  if (window.parent === window) return;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") window.parent.postMessage({ type: "fundraiser:close" }, "*");
  });
  var last = 0;
  function tell() {
    var height = document.documentElement.offsetHeight;  // the content (scrollHeight is at least the frame)
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: "fundraiser:height", height: height }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.body);
  window.addEventListener("load", tell);
  tell();
})();
