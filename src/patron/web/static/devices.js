/* Live device views: telemetry charts (one small SVG chart per metric) and the latest events,
   refreshed from Patron's JSON API while the page is visible. The page works without this file. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLOURS = ["#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285"];

  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined || isNaN(value)) { return "—"; }
    var abs = Math.abs(value);
    if (abs >= 1000) { return Math.round(value).toLocaleString("en-US"); }
    if (abs >= 100) { return value.toFixed(0); }
    if (abs >= 10) { return value.toFixed(1); }
    return value.toFixed(2);
  }

  function clock(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  /* One chart: a min–max band, the average line, axis labels and the latest value. */
  function drawMetric(container, name, points, colour, since, until) {
    var width = 560, height = 120, left = 46, right = 8, top = 8, bottom = 20;
    var figure = document.createElement("figure");
    figure.className = "spark";
    figure.setAttribute("data-metric", name);
    var caption = document.createElement("figcaption");
    var last = points.length ? points[points.length - 1].avg : null;
    caption.innerHTML = "<span class=\"spark-name\"></span> <strong class=\"spark-value\"></strong>";
    caption.querySelector(".spark-name").textContent = name.replace(/_/g, " ");
    caption.querySelector(".spark-value").textContent = fmt(last);
    figure.appendChild(caption);
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": name + " over time, latest " + fmt(last) }, figure);
    var t0 = new Date(since).getTime(), t1 = new Date(until).getTime();
    var lo = Infinity, hi = -Infinity;
    points.forEach(function (p) { lo = Math.min(lo, p.min); hi = Math.max(hi, p.max); });
    if (!points.length) { lo = 0; hi = 1; }
    if (hi === lo) { hi = lo + 1; }
    var pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    function x(t) { return left + (width - left - right) * (new Date(t).getTime() - t0) / Math.max(1, t1 - t0); }
    function y(v) { return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo)); }
    [lo + pad, (lo + hi) / 2, hi - pad].forEach(function (v) {
      el("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "spark-grid" }, svg);
      var label = el("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "spark-axis" }, svg);
      label.textContent = fmt(v);
    });
    [t0, (t0 + t1) / 2, t1].forEach(function (t, i) {
      var label = el("text", { x: x(t), y: height - 4, "text-anchor": ["start", "middle", "end"][i], class: "spark-axis" }, svg);
      label.textContent = clock(t);
    });
    if (points.length) {
      var band = points.map(function (p) { return x(p.t) + "," + y(p.max); })
        .concat(points.slice().reverse().map(function (p) { return x(p.t) + "," + y(p.min); }));
      el("polygon", { points: band.join(" "), fill: colour, "fill-opacity": "0.15", stroke: "none" }, svg);
      el("polyline", { points: points.map(function (p) { return x(p.t) + "," + y(p.avg); }).join(" "),
        fill: "none", stroke: colour, "stroke-width": "2", class: "spark-line" }, svg);
      var end = points[points.length - 1];
      el("circle", { cx: x(end.t), cy: y(end.avg), r: 3, fill: colour }, svg);
    } else {
      var empty = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "spark-axis" }, svg);
      empty.textContent = "no data in this window";
    }
    container.appendChild(figure);
  }

  function refreshTelemetry(box) {
    var device = box.getAttribute("data-device-id");
    var windowSeconds = parseInt(box.getAttribute("data-window") || "3600", 10);
    var metrics = (box.getAttribute("data-metrics") || "").split(",").filter(Boolean);
    var until = new Date();
    var since = new Date(until.getTime() - windowSeconds * 1000);
    var query = "since=" + encodeURIComponent(since.toISOString()) + "&until=" + encodeURIComponent(until.toISOString()) +
      "&points=" + (box.getAttribute("data-points") || "90");
    metrics.forEach(function (m) { query += "&metric=" + encodeURIComponent(m); });
    return get("/api/v1/devices/" + device + "/telemetry?" + query).then(function (data) {
      var charts = box.querySelector("[data-charts]") || box;
      charts.textContent = "";
      var names = Object.keys(data.series || {}).sort();
      if (!names.length) {
        var p = document.createElement("p");
        p.className = "muted";
        p.textContent = "No numeric telemetry in the last " + Math.round(windowSeconds / 60) + " minutes.";
        charts.appendChild(p);
      }
      names.slice(0, 6).forEach(function (name, i) {
        drawMetric(charts, name, data.series[name], COLOURS[i % COLOURS.length], data.since, data.until);
      });
      box.setAttribute("data-updated", new Date().toISOString());
      var stamp = box.querySelector("[data-updated-label]");
      if (stamp) { stamp.textContent = "updated " + clock(new Date()); }
    }).catch(function (err) {
      var stamp = box.querySelector("[data-updated-label]");
      if (stamp) { stamp.textContent = "could not refresh (" + err.message + ")"; }
    });
  }

  function refreshEvents(table) {
    var device = table.getAttribute("data-device-id");
    var limit = table.getAttribute("data-limit") || "15";
    return get("/api/v1/devices/" + device + "/events?limit=" + limit).then(function (data) {
      var body = table.querySelector("tbody");
      body.textContent = "";
      (data.items || []).forEach(function (event) {
        var row = document.createElement("tr");
        var props = JSON.stringify(event.props || {});
        [new Date(event.ts).toLocaleString(), event.type, props.length > 90 ? props.slice(0, 87) + "…" : props]
          .forEach(function (text, i) {
            var cell = document.createElement("td");
            if (i === 2) { var code = document.createElement("code"); code.textContent = text; cell.appendChild(code); }
            else { cell.textContent = text; }
            row.appendChild(cell);
          });
        body.appendChild(row);
      });
    }).catch(function () { /* keep the last rows */ });
  }

  function every(ms, fn) {
    fn();
    window.setInterval(function () { if (!document.hidden) { fn(); } }, ms);
  }

  document.querySelectorAll("[data-telemetry]").forEach(function (box) {
    var refresh = parseInt(box.getAttribute("data-refresh") || "5000", 10);
    every(refresh, function () { refreshTelemetry(box); });
  });
  document.querySelectorAll("[data-live-events]").forEach(function (table) {
    var refresh = parseInt(table.getAttribute("data-refresh") || "5000", 10);
    every(refresh, function () { refreshEvents(table); });
  });
  /* The device picker on the customer page swaps which device the chart follows. */
  document.querySelectorAll("[data-device-picker]").forEach(function (picker) {
    picker.addEventListener("change", function () {
      var box = document.getElementById(picker.getAttribute("data-device-picker"));
      if (box) { box.setAttribute("data-device-id", picker.value); refreshTelemetry(box); }
    });
  });
})();
