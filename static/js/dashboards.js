// Draws the dashboards' server-built plotly figures. Each figure arrives as JSON in a
// <script type="application/json"> (Django's json_script) next to its <div data-figure>;
// nothing here is inline, so the pages work under a strict CSP. Runs on page load and on
// every htmx swap (the live refresh replaces the whole #dashboard element).
(function () {
  "use strict";

  function draw(root) {
    var nodes = root.querySelectorAll ? root.querySelectorAll("[data-figure]") : [];
    nodes.forEach(function (el) {
      if (el.dataset.drawn === "1") return;
      var source = document.getElementById(el.dataset.figure);
      if (!source || !window.Plotly) return;
      var figure = JSON.parse(source.textContent);
      el.dataset.drawn = "1";
      window.Plotly.newPlot(el, figure.data || [], figure.layout || {}, {
        responsive: true,
        displaylogo: false,
        modeBarButtonsToRemove: ["lasso2d", "select2d"],
      }).then(function () {
        el.dataset.rendered = "1";
      });
      // Heatmap cells carry the URL of the filtered list they stand for.
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        var url = point && point.customdata;
        if (typeof url === "string" && url.charAt(0) === "/") window.location.assign(url);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    draw(document);
  });
})();
