// live cost and benefit of a proposal form at the posted prices, and the round-history chart
(function () {
  function recompute(form) {
    var prices = JSON.parse(form.dataset.prices || "{}");
    var publicShare = JSON.parse(form.dataset.publicShare || "{}");
    var cost = 0, benefit = 0;
    form.querySelectorAll("input[data-commodity]").forEach(function (el) {
      var q = parseFloat(el.value);
      if (!isFinite(q) || q < 0) return;
      var c = el.dataset.commodity, p = prices[c] || 0;
      if (el.name.indexOf("demand:") === 0) cost += q * p * (publicShare[c] || 1);
      else benefit += q * p;
    });
    var out = form.querySelector("[data-live]");
    if (out) out.textContent = "benefit " + benefit.toFixed(2) + ", cost " + cost.toFixed(2) +
      (form.dataset.budget ? " (budget " + parseFloat(form.dataset.budget).toFixed(2) + ")" : "");
  }
  function drawCharts(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn || !window.uPlot) return;
      var d = JSON.parse(el.dataset.chart);
      if (!d.x.length) return;
      el.dataset.drawn = "1";
      new uPlot({width: Math.min(el.clientWidth || 800, 900), height: 240,
        scales: {x: {time: false}, y: {distr: 3}},
        series: [{label: "round"}, {label: "worst imbalance (%)", stroke: "#7a1f1f"},
                 {label: "threshold (%)", stroke: "#888", dash: [4, 4]}]},
        [d.x, d.y, d.x.map(function () { return d.threshold; })], el);
    });
  }
  document.addEventListener("input", function (e) {
    var form = e.target.closest && e.target.closest("form[data-prices]");
    if (form) recompute(form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-prices]").forEach(recompute);
    drawCharts();
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.target); });
})();
