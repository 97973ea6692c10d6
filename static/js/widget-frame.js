// On the organisation's own page, next to the widget's iframe (the console's snippet adds it):
// the iframe takes the height of what it shows (the bar alone, or the open form), so there is
// neither empty space below it nor a second scroll bar inside the page. Without this script the
// iframe keeps the snippet's fixed height and scrolls.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src).origin;
  window.addEventListener("message", function (e) {
    if (e.origin !== origin || !e.data || e.data.type !== "fundraiser:height") return;
    var height = Math.ceil(Number(e.data.height));
    if (!(height > 0 && height < 20000)) return;
    document.querySelectorAll("iframe").forEach(function (frame) {
      if (frame.contentWindow === e.source) frame.style.height = height + "px";
    });
  });
})();
