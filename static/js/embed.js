// The widget inside a give-button.js overlay: Escape pressed in the form closes the overlay (the
// key never reaches the organisation's page across the frame, so we tell it).
(function () {
  "use strict";
  if (window.parent === window) return;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") window.parent.postMessage({ type: "fundraiser:close" }, "*");
  });
})();
