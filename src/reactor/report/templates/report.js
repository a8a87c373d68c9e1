// Draws the report's charts with Chartist (vendored, inlined above) from the
// data in #report-data. The tables are already in the page; this only adds
// pictures. When every chart is drawn, <html data-charts="ready"> says so.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var labels = data.labels || [];
  var pending = 0;
  var sideCount = Object.keys(data.sides || {}).length;
  // Side by side, each chart is drawn narrower so that its labels keep their size.
  var WIDTH = sideCount > 1 ? 520 : 760, HEIGHT = sideCount > 1 ? 230 : 250;

  function done() {
    pending -= 1;
    if (pending === 0) {
      document.documentElement.setAttribute("data-charts", "ready");
    }
  }

  function title(element, text) {
    // A native tooltip: hovering a bar or a point shows its value.
    var node = document.createElementNS("http://www.w3.org/2000/svg", "title");
    node.textContent = text;
    element.getNode().appendChild(node);
  }

  function everyNth(count, most) {
    var step = Math.max(1, Math.ceil(count / most));
    return function (value, index) { return index % step === 0 ? value : null; };
  }

  function stackedMax(series) {
    var most = 0;
    for (var i = 0; i < labels.length; i++) {
      var sum = 0;
      series.forEach(function (s) { sum += s.data[i] || 0; });
      most = Math.max(most, sum);
    }
    return most;
  }

  function plainMax(series) {
    var most = 0;
    series.forEach(function (s) { s.data.forEach(function (v) { most = Math.max(most, v); }); });
    return most;
  }

  function chartSeries(series) {
    return series.map(function (s) { return {name: s.name, className: s.cls, data: s.data}; });
  }

  function track(chart) {
    pending += 1;
    var counted = false;
    chart.on("created", function () {
      if (!counted) { counted = true; done(); }
    });
  }

  function bars(element, series, high) {
    var chart = new Chartist.BarChart(element, {labels: labels, series: chartSeries(series)}, {
      stackBars: true,
      low: 0,
      high: Math.max(high, 1),
      width: "100%",
      viewBox: {width: WIDTH, height: HEIGHT},
      chartPadding: {top: 10, right: 10, bottom: 0, left: 10},
      axisX: {showGrid: false, labelInterpolationFnc: everyNth(labels.length, 12)},
      axisY: {onlyInteger: true}
    });
    chart.on("draw", function (context) {
      if (context.type === "bar") {
        var width = Math.max(1, (context.chartRect.width() / Math.max(labels.length, 1)) * 0.7);
        context.element.attr({style: "stroke-width: " + width.toFixed(1) + "px"});
        title(context.element, context.series.name + ", " + labels[context.index] + ": " + context.value.y);
      }
    });
    track(chart);
  }

  function lines(element, series, high, format) {
    var chart = new Chartist.LineChart(element, {labels: labels, series: chartSeries(series)}, {
      low: 0,
      high: Math.max(high, 1),
      showPoint: labels.length <= 120,
      lineSmooth: Chartist.Interpolation.none(),
      width: "100%",
      viewBox: {width: WIDTH, height: HEIGHT},
      chartPadding: {top: 10, right: 10, bottom: 0, left: 20},
      axisX: {showGrid: false, labelInterpolationFnc: everyNth(labels.length, 12)},
      axisY: {labelInterpolationFnc: format}
    });
    chart.on("draw", function (context) {
      if (context.type === "point") {
        title(context.element, context.series.name + ", end of " + labels[context.index] + ": " + format(context.value.y));
      }
    });
    track(chart);
  }

  function money(value) {
    return Number(value).toLocaleString("en", {minimumFractionDigits: 2, maximumFractionDigits: 2});
  }

  function spark(element, values) {
    var series = Object.keys(values).map(function (side) {
      return {name: side, className: "spark-" + side, data: values[side]};
    });
    var chart = new Chartist.LineChart(element, {labels: labels, series: series}, {
      low: 0,
      high: Math.max(plainMax(series), 1),
      showPoint: false,
      showArea: series.length === 1,
      fullWidth: true,
      width: "100%",
      viewBox: {width: 160, height: 28},
      chartPadding: {top: 2, right: 1, bottom: 2, left: 1},
      axisX: {showGrid: false, showLabel: false, offset: 0},
      axisY: {showGrid: false, showLabel: false, offset: 0}
    });
    chart.on("created", function (context) {
      title(context.svg, series.map(function (s) {
        return s.name + ": " + s.data.reduce(function (a, b) { return a + b; }, 0) + " fires";
      }).join(", "));
    });
    track(chart);
  }

  var sides = data.sides || {};
  var names = Object.keys(sides);
  function highest(name, measure) {
    return Math.max.apply(null, names.map(function (side) { return measure(sides[side][name]); }).concat([0]));
  }
  var high = {
    fires: highest("fires", stackedMax),
    types: highest("types", stackedMax),
    liability: highest("liability", plainMax)
  };
  document.querySelectorAll(".chart[data-chart]").forEach(function (element) {
    var name = element.getAttribute("data-chart");
    var series = sides[element.getAttribute("data-side")][name];
    if (name === "liability") {
      lines(element, series, high.liability, money);
    } else {
      bars(element, series, high[name]);
    }
  });
  document.querySelectorAll(".spark[data-reaction]").forEach(function (element) {
    var values = (data.spark || {})[element.getAttribute("data-reaction")];
    if (values) {
      spark(element, values);
    } else {
      element.classList.add("empty");
    }
  });
  if (pending === 0) {
    document.documentElement.setAttribute("data-charts", "ready");
  }
})();
