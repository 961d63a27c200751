/* webtrail day report: draws the charts from the inlined JSON and makes the tables sortable.
 * Every text that reaches the DOM goes through textContent or esc(): log content is hostile. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("webtrail-data").textContent);
  var charts = {};
  var PALETTE = ["#3b6fb6", "#e0a030", "#d9534f", "#5cb85c", "#8e6cc0", "#4bb3c4", "#c0627c", "#7f8c8d"];
  var SEVERITY_COLORS = { critical: "#8b0000", high: "#d9534f", medium: "#e0a030", low: "#5b9bd5" };

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function num(value) {
    if (value === null || value === undefined || value === "") { return "–"; }
    if (typeof value === "number") {
      return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toLocaleString("en-US", { maximumFractionDigits: 2 });
    }
    return String(value);
  }

  function short(text, max) {
    text = String(text === null || text === undefined ? "" : text);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  /* Tooltip content is HTML in ECharts: build it from escaped parts only. */
  function tooltip(params) {
    var list = Array.isArray(params) ? params : [params];
    var head = list.length ? (list[0].axisValueLabel !== undefined ? list[0].axisValueLabel : list[0].name) : "";
    var lines = ["<b>" + esc(head) + "</b>"];
    list.forEach(function (p) {
      var value = Array.isArray(p.value) ? p.value[p.value.length - 1] : p.value;
      var label = p.seriesType === "pie" ? p.percent + "%" : "";
      lines.push(esc(p.seriesName) + ": " + esc(num(value)) + (label ? " (" + esc(label) + ")" : ""));
    });
    return lines.join("<br>");
  }

  function draw(id, option) {
    var element = document.getElementById(id);
    if (!element) { return; }
    var chart = echarts.init(element, null, { renderer: "svg" });
    option.animation = false;
    option.color = option.color || PALETTE;
    option.tooltip = Object.assign({ confine: true, formatter: tooltip }, option.tooltip || {});
    chart.setOption(option);
    charts[id] = chart;
    element.setAttribute("data-drawn", "true");
  }

  function hbar(id, labels, series, extra) {
    var option = {
      grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value" },
      yAxis: { type: "category", inverse: true, data: labels,
               axisLabel: { formatter: function (v) { return short(v, 48); } } },
      series: series.map(function (s) { return Object.assign({ type: "bar" }, s); })
    };
    draw(id, Object.assign(option, extra || {}));
  }

  function pie(id, name, items) {
    draw(id, {
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      series: [{ type: "pie", name: name, radius: ["35%", "65%"], center: ["50%", "45%"], minShowLabelAngle: 8,
                 label: { formatter: function (p) { return short(p.name, 24) + " " + p.percent + "%"; } },
                 data: items }]
    });
  }

  /* Every minute of the day, 00:00 to 23:59: minutes without a request are zeros, not left out. */
  function wholeDay(rows) {
    var byMinute = {};
    rows.forEach(function (m) { byMinute[m.minute_at.slice(11, 16)] = m; });
    var all = [];
    for (var i = 0; i < 1440; i++) {
      var label = ("0" + Math.floor(i / 60)).slice(-2) + ":" + ("0" + (i % 60)).slice(-2);
      all.push(byMinute[label] || { minute_at: data.day + "T" + label + ":00", requests: 0, status_4xx: 0,
                                    status_5xx: 0, p95_ms: null, is_spike: false });
    }
    return all;
  }

  function trafficChart() {
    var minutes = wholeDay(data.minutes);
    var x = minutes.map(function (m) { return m.minute_at.slice(11, 16); });
    var spikes = minutes.filter(function (m) { return m.is_spike; }).map(function (m) {
      return { name: "spike", coord: [m.minute_at.slice(11, 16), m.requests], value: m.requests };
    });
    draw("chart-traffic", {
      grid: { left: 8, right: 16, top: 36, bottom: 64, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      dataZoom: [{ type: "inside", xAxisIndex: 0 }, { type: "slider", xAxisIndex: 0, bottom: 8 }],
      xAxis: { type: "category", data: x, boundaryGap: false },
      yAxis: [{ type: "value", name: "requests / min" }, { type: "value", name: "p95 ms", splitLine: { show: false } }],
      series: [
        { name: "requests", type: "line", showSymbol: false, data: minutes.map(function (m) { return m.requests; }),
          markPoint: { symbol: "pin", symbolSize: 36, itemStyle: { color: "#d9534f" }, data: spikes,
                       label: { formatter: "!" } } },
        { name: "4xx", type: "line", showSymbol: false, data: minutes.map(function (m) { return m.status_4xx; }) },
        { name: "5xx", type: "line", showSymbol: false, data: minutes.map(function (m) { return m.status_5xx; }) },
        { name: "p95 latency (ms)", type: "line", yAxisIndex: 1, showSymbol: false, lineStyle: { type: "dashed" },
          data: minutes.map(function (m) { return m.p95_ms; }) }
      ]
    });
  }

  function clientCharts() {
    ["browser", "os"].forEach(function (dimension) {
      var rows = (data.clients[dimension] || []).slice(0, 10);
      hbar("chart-clients-" + dimension, rows.map(function (r) { return r.name; }), [
        { name: "requests", data: rows.map(function (r) { return r.requests; }) }
      ], { legend: { show: false }, grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true } });
    });
    ["device", "bot"].forEach(function (dimension) {
      var rows = data.clients[dimension] || [];
      pie("chart-clients-" + dimension, "requests", rows.map(function (r) { return { name: r.name, value: r.requests }; }));
    });
  }

  function findingsChart() {
    var severities = ["critical", "high", "medium", "low"];
    var categories = [];
    data.findings_by_severity.forEach(function (r) { if (categories.indexOf(r.category) < 0) { categories.push(r.category); } });
    var series = categories.map(function (category) {
      return { name: category, type: "bar", stack: "findings", data: severities.map(function (severity) {
        var row = data.findings_by_severity.filter(function (r) { return r.severity === severity && r.category === category; })[0];
        return row ? row.findings : 0;
      }) };
    });
    draw("chart-findings", {
      grid: { left: 8, right: 16, top: 60, bottom: 8, containLabel: true },
      legend: { type: "scroll", top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: severities,
               axisLabel: { color: function (v) { return SEVERITY_COLORS[v] || "#333"; } } },
      yAxis: { type: "value", name: "findings", minInterval: 1 },
      series: series
    });
  }

  function trendChart() {
    var rows = data.trend;
    draw("chart-trend", {
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map(function (r) { return r.day; }) },
      yAxis: [{ type: "value", name: "count" }, { type: "value", name: "error rate %", splitLine: { show: false } }],
      series: [
        { name: "requests", type: "line", data: rows.map(function (r) { return r.requests; }) },
        { name: "sessions", type: "line", data: rows.map(function (r) { return r.sessions; }) },
        { name: "findings", type: "line", data: rows.map(function (r) { return r.findings; }) },
        { name: "error rate %", type: "line", yAxisIndex: 1, lineStyle: { type: "dashed" },
          data: rows.map(function (r) { return r.requests ? Math.round(10000 * r.errors / r.requests) / 100 : 0; }) }
      ]
    });
  }

  function drawAll() {
    if (data.minutes.length) { trafficChart(); }
    pie("chart-status", "requests", data.status.map(function (s) { return { name: String(s.status), value: s.requests }; }));
    var endpoints = data.endpoints.slice(0, 15);
    hbar("chart-endpoints", endpoints.map(function (e) { return e.method + " " + e.path_template; }), [
      { name: "hits", data: endpoints.map(function (e) { return e.hits; }) },
      { name: "errors (5xx)", data: endpoints.map(function (e) { return e.errors; }) }
    ]);
    draw("chart-durations", {
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: data.sessions.durations.map(function (b) { return b.bucket; }) },
      yAxis: { type: "value", name: "sessions", minInterval: 1 },
      series: [{ name: "sessions", type: "bar", data: data.sessions.durations.map(function (b) { return b.sessions; }) }]
    });
    var pages = data.pages.slice(0, 15);
    hbar("chart-pages", pages.map(function (p) { return p.path_template; }), [
      { name: "views", data: pages.map(function (p) { return p.views; }) },
      { name: "unique visitors", data: pages.map(function (p) { return p.unique_visitors; }) }
    ]);
    hbar("chart-funnel", data.funnel.map(function (f) { return f.step_number + ". " + f.step_name; }), [
      { name: "visitors", data: data.funnel.map(function (f) { return f.visitors; }) }
    ]);
    var referrers = data.referrers.slice(0, 15);
    hbar("chart-referrers", referrers.map(function (r) { return r.referrer_domain; }), [
      { name: "sessions", data: referrers.map(function (r) { return r.sessions; }) }
    ]);
    clientCharts();
    if (data.findings_by_severity.length) { findingsChart(); }
    var ips = data.top_ips_requests.slice(0, 15);
    hbar("chart-ips", ips.map(function (r) { return r.client_ip; }), [
      { name: "requests", data: ips.map(function (r) { return r.requests; }) },
      { name: "4xx + 5xx", data: ips.map(function (r) { return r.errors; }) }
    ]);
    var stages = Object.keys(data.facts.stage_timings);
    hbar("chart-stages", stages, [
      { name: "seconds", data: stages.map(function (s) { return data.facts.stage_timings[s]; }) }
    ], { legend: { show: false } });
    if (data.trend.length > 1) { trendChart(); }
  }

  function sortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.setAttribute("role", "button");
      th.tabIndex = 0;
      function sort() {
        var body = table.tBodies[0];
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
          // "120.0" and "1000" are numbers too (Python writes whole floats with ".0")
          var nx = Number(x), ny = Number(y);
          var numeric = x !== null && y !== null && x.trim() !== "" && y.trim() !== "" && isFinite(nx) && isFinite(ny);
          var order = numeric ? nx - ny : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); } });
    });
  }

  drawAll();
  document.querySelectorAll("table.sortable").forEach(sortable);
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); });
  window.webtrailCharts = charts;
})();
