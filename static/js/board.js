// Board dashboard: draw each chart from the figure JSON the server put beside it (no inline scripts).
(function () {
  "use strict";
  if (!window.Plotly) return;
  // No mode bar: its buttons are unnamed links a keyboard cannot reach inside an aria-hidden chart, and
  // one of them could send the data to Plotly's cloud. The data table and the CSV link stand in for it.
  var CONFIG = { responsive: true, displayModeBar: false, showSendToCloud: false };
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.dataset.source);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    // The printed report asks for shorter charts, so a campaign fits on one page.
    if (el.dataset.height) figure.layout.height = Number(el.dataset.height);
    window.Plotly.newPlot(el, figure.data, figure.layout, CONFIG);
  });
  // Charts redraw at the printed page's width, then back.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) { window.Plotly.Plots.resize(el); });
  });
})();
