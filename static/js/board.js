// Board dashboard: draw each chart from the figure JSON the server put beside it (no inline scripts).
(function () {
  "use strict";
  if (!window.Plotly) return;
  function config(id) {
    return { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"],
             toImageButtonOptions: { filename: id } };
  }
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.dataset.source);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    // The printed report asks for shorter charts, so a campaign fits on one page.
    if (el.dataset.height) figure.layout.height = Number(el.dataset.height);
    window.Plotly.newPlot(el, figure.data, figure.layout, config(el.dataset.chart));
  });
  // Charts redraw at the printed page's width, then back.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) { window.Plotly.Plots.resize(el); });
  });
})();
