// Draws a load drill's curve (rate and p95 over time) with the locally served plotly.js.
// The data arrives as JSON in Django's json_script element named by data-curve (built from
// the load test's evidence key "samples"); nothing here is inline, so the page works under
// the portal's strict CSP.
(function () {
  "use strict";

  function draw() {
    var el = document.getElementById("load-curve");
    if (!el || !window.Plotly) return;
    var source = document.getElementById(el.dataset.curve);
    if (!source) return;
    var c = JSON.parse(source.textContent);
    var traces = [
      { x: c.t, y: c.rps, name: "requests/s", type: "scatter", mode: "lines+markers" },
      { x: c.t, y: c.p95_ms, name: "p95 ms", type: "scatter", mode: "lines", yaxis: "y2" },
      { x: c.t, y: c.errors, name: "errors", type: "bar", opacity: 0.5 },
    ];
    var shapes = [];
    if (c.offered_rps) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: c.offered_rps, y1: c.offered_rps,
        line: { dash: "dot", width: 1 } });
    }
    window.Plotly.newPlot(el, traces, {
      margin: { t: 20, r: 60, b: 40, l: 50 },
      xaxis: { title: { text: "seconds since start" } },
      yaxis: { title: { text: "requests/s" } },
      yaxis2: { title: { text: "p95 ms" }, overlaying: "y", side: "right" },
      shapes: shapes,
      legend: { orientation: "h" },
    }, { responsive: true, displaylogo: false }).then(function () {
      el.dataset.rendered = "1";
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
