// The pages' behaviour: the live total of a proposal form, "start from the suggestion", charts
// (uPlot), local times and countdowns, copy buttons, and the live cycle dashboard (htmx).
// Every message goes through _(): the page hands the script its messages, translated, as JSON in
// <script id="glasnost-messages"> (see glasnost/service/i18n.py).
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var messages = {};
  try {
    messages = JSON.parse((document.getElementById("glasnost-messages") || {}).textContent || "{}");
  } catch (e) { messages = {}; }

  function _(msgid) { return messages[msgid] || msgid; }
  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (m, k) { return k in values ? values[k] : m; });
  }
  var money = new Intl.NumberFormat(lang, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  var plain = new Intl.NumberFormat(lang, {maximumSignificantDigits: 4});

  // ---- a proposal form: benefit, cost and budget as one types --------------------------------
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
    var out = form.querySelector("#live");
    var warning = form.querySelector("#budget-warning");
    var budget = form.dataset.budget ? parseFloat(form.dataset.budget) : null;
    if (out) {
      out.textContent = budget === null
        ? fill(_("Benefit: %(benefit)s · cost: %(cost)s"), {benefit: money.format(benefit), cost: money.format(cost)})
        : fill(_("Cost: %(cost)s · budget: %(budget)s · left: %(left)s"),
               {cost: money.format(cost), budget: money.format(budget), left: money.format(budget - cost)});
    }
    if (warning && budget !== null) {
      var over = cost > budget * (1 + 1e-9);
      warning.hidden = !over;
      warning.textContent = over
        ? fill(_("Over the budget by %(amount)s: this proposal would be refused. Ask for less."),
               {amount: money.format(cost - budget)})
        : "";
    }
  }

  function useSuggestion(form) {
    form.querySelectorAll("input[data-commodity]").forEach(function (el) {
      var s = parseFloat(el.dataset.suggest);
      el.value = isFinite(s) && s > 0 ? String(+s.toPrecision(6)) : "";
    });
    recompute(form);
    var first = form.querySelector("input[data-commodity]");
    if (first) first.focus();
  }

  // ---- charts ---------------------------------------------------------------------------------
  function colour(i, n) {
    if (n <= 1) return "#a3162b";
    var hue = (i * 137.508) % 360;  // the golden angle: neighbours far apart
    return "hsl(" + hue.toFixed(0) + ", 70%, " + (30 + (i % 3) * 6) + "%)";
  }

  function drawChart(el) {
    if (el.dataset.drawn || !window.uPlot) return;
    var d = JSON.parse(el.dataset.chart);
    if (!d.x || d.x.length < 2) return;
    el.dataset.drawn = "1";
    var scale = d.percent ? 100 : 1;
    var clean = function (v) {
      if (v === null || v === undefined) return null;
      var y = v * scale;
      return d.log && y <= 0 ? null : y;
    };
    var data = [d.x];
    var series = [{label: d.xlabel}];
    d.series.forEach(function (s, i) {
      data.push(s.values.map(clean));
      series.push({label: s.label, stroke: s.color || colour(i, d.series.length), width: 2,
                   points: {show: d.x.length < 40}, spanGaps: false});
    });
    if (d.threshold !== undefined) {
      data.push(d.x.map(function () { return d.threshold * scale; }));
      series.push({label: d.threshold_label, stroke: "#595959", width: 1.5, dash: [6, 4], points: {show: false}});
    }
    var width = Math.max(Math.min(el.clientWidth || 600, 1000), 260);
    var plot = new uPlot({
      width: width,
      height: 260,
      scales: {x: {time: false}, y: d.log ? {distr: 3} : {}},
      axes: [
        {label: d.xlabel, stroke: "#222", grid: {stroke: "#e4e4e4"},
         incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],  // rounds are whole numbers
         values: function (u, ticks) { return ticks.map(function (t) { return plain.format(t); }); }},
        {label: d.ylabel, stroke: "#222", grid: {stroke: "#e4e4e4"}, size: 60,
         values: function (u, ticks) {
           // a log axis leaves its minor ticks unlabelled (null): keep them so
           return ticks.map(function (t) { return t === null || t === undefined ? null : plain.format(t); });
         }}
      ],
      legend: {live: false},
      cursor: {drag: {x: false, y: false}},
      series: series
    }, data, el);
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        var w = Math.max(Math.min(el.clientWidth || width, 1000), 260);
        if (Math.abs(w - plot.width) > 4) plot.setSize({width: w, height: 260});
      }).observe(el);
    }
  }

  function drawCharts(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(drawChart);
  }

  // ---- times: local time and a countdown to each deadline ------------------------------------
  var when = new Intl.DateTimeFormat(lang, {dateStyle: "medium", timeStyle: "short"});

  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (!isNaN(t)) el.textContent = when.format(t);
    });
  }

  function twoDigits(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.round((new Date(el.dataset.countdown).getTime() - now) / 1000);
      if (isNaN(left)) return;
      if (left <= 0) {
        el.textContent = _("(the deadline has passed: the round is closing)");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var time = h > 0 ? h + ":" + twoDigits(m) + ":" + twoDigits(s) : m + ":" + twoDigits(s);
      el.textContent = fill(_("(in %(time)s)"), {time: time});
    });
  }

  // ---- copy buttons ---------------------------------------------------------------------------
  function copy(button, text) {
    var done = function () {
      var was = button.textContent;
      button.textContent = _("Copied");
      setTimeout(function () { button.textContent = was; }, 1500);
      var status = document.getElementById("live-status");
      if (status) status.textContent = _("Copied");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(button, text); });
    } else {
      select(button, text);
    }
  }

  function select(button, text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected */ }
    document.body.removeChild(area);
    button.textContent = _("Copied");
  }

  // ---- wiring ---------------------------------------------------------------------------------
  document.addEventListener("input", function (e) {
    var form = e.target.closest && e.target.closest("form[data-prices]");
    if (form) recompute(form);
  });

  document.addEventListener("click", function (e) {
    var target = e.target.closest ? e.target : null;
    if (!target) return;
    var suggestion = target.closest("[data-fill-suggestion]");
    if (suggestion) {
      var form = suggestion.closest("form[data-prices]");
      if (form) {
        e.preventDefault();
        useSuggestion(form);
      }
      return;
    }
    var one = target.closest("[data-copy]");
    if (one) {
      var source = document.querySelector(one.dataset.copy);
      if (source) copy(one, source.textContent.trim());
      return;
    }
    var all = target.closest("[data-copy-all]");
    if (all) {
      var texts = [];
      document.querySelectorAll(all.dataset.copyAll).forEach(function (el) { texts.push(el.textContent.trim()); });
      copy(all, texts.join("\n"));
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-prices]").forEach(recompute);
    drawCharts();
    localTimes();
    tick();
    setInterval(tick, 1000);
    var error = document.getElementById("form-error");
    if (error) error.focus();
  });

  // the live dashboard: swap only when something changed; announce the status line when it did
  var lastDashboard = null;
  function announce(root) {
    var line = root && root.querySelector("[data-announce]");
    var status = document.getElementById("live-status");
    if (!line || !status) return;
    var text = line.textContent.replace(/\s+/g, " ").trim();
    if (text !== status.dataset.last) {
      if (status.dataset.last !== undefined) status.textContent = text;
      status.dataset.last = text;
    }
  }
  document.addEventListener("DOMContentLoaded", function () { announce(document.getElementById("dashboard")); });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "dashboard" && e.detail.serverResponse === lastDashboard) {
      e.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.xhr) lastDashboard = e.detail.xhr.responseText;
    var root = document.getElementById("dashboard");
    if (!root) return;
    drawCharts(root);
    localTimes(root);
    tick();
    announce(root);
  });
})();
