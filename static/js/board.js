// Board dashboard: draw each chart from the figure JSON the server put beside it (no inline scripts).
(function () {
  "use strict";
  // No mode bar: its buttons are unnamed links a keyboard cannot reach inside an aria-hidden chart, and
  // one of them could send the data to Plotly's cloud. The data table and the CSV link stand in for it.
  var CONFIG = { responsive: true, displayModeBar: false, showSendToCloud: false };
  var charts = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  var plotlyUrl = document.currentScript.dataset.plotly;
  var waiting = [];
  var loading = false;

  function plot(el) {
    var source = document.getElementById(el.dataset.source);
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    // The printed report asks for shorter charts, so a campaign fits on one page.
    if (el.dataset.height) figure.layout.height = Number(el.dataset.height);
    window.Plotly.newPlot(el, figure.data, figure.layout, CONFIG);
  }

  // plotly.js (1.2 MB) is fetched and run only once a chart is wanted, so the page paints and
  // answers first on a slow phone.
  function draw(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    if (window.Plotly) return plot(el);
    waiting.push(el);
    if (loading) return;
    loading = true;
    var script = document.createElement("script");
    script.src = plotlyUrl;
    // Each waiting chart in a task of its own, so a phone can answer a tap between them.
    script.onload = function () {
      waiting.splice(0).forEach(function (el, i) { setTimeout(function () { plot(el); }, i); });
    };
    document.head.appendChild(script);
  }

  // A chart is drawn when it comes near the screen: on a phone, ten charts drawn at once cost
  // seconds of script before the page answers. The printed report draws everything up front.
  if (document.querySelector("[data-draw-all]") || !("IntersectionObserver" in window)) {
    charts.forEach(draw);
  } else {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        draw(entry.target);
      });
    }, { rootMargin: "200px 0px" });
    charts.forEach(function (el) { observer.observe(el); });
  }
  // Fetched (not run) once the page has loaded, so a chart scrolled to later draws without waiting
  // for the network, and the first screen never waits for plotly.js.
  window.addEventListener("load", function () {
    if (window.Plotly || loading) return;
    var hint = document.createElement("link");
    hint.rel = "prefetch";
    hint.as = "script";
    hint.href = plotlyUrl;
    document.head.appendChild(hint);
  });
  // Printing a dashboard: draw what was never scrolled to, and redraw at the page's width.
  window.addEventListener("beforeprint", function () {
    charts.forEach(draw);
    if (window.Plotly) charts.forEach(function (el) { if (el.data) window.Plotly.Plots.resize(el); });
  });
})();
