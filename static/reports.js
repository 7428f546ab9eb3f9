// The reports page's charts. uPlot (static/vendor/uplot/, loaded on this page only) draws the figures that
// the page carries in <script type="application/json" id="report-data"> (widget_server/web/reports_page.py,
// chart_data). The tables carry the same figures: without this script, or without uPlot, the page loses
// the pictures and nothing else.
//
// Days are dates, not instants: each is placed at its UTC midnight and labelled in UTC, so that the browser's
// own time zone never moves a bar to the day before. Colours come from the page's CSS variables, and the
// charts are drawn again when the colour scheme changes or their box changes size.
(function () {
  "use strict";

  const HEIGHT = 220;
  const DAY = 86400;
  // The steps of a time axis: seconds, minutes, hours, days people count in.
  const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200]
    .concat([1, 2, 3, 7, 14, 30].map((days) => days * DAY));

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function palette() {
    const style = getComputedStyle(document.body);
    const read = (name) => style.getPropertyValue(name).trim();
    return {
      axis: read("--muted"),
      grid: read("--line"),
      series: [1, 2, 3, 4, 5, 6, 7].map((n) => read("--chart-" + n)),
      brand: read("--chart-1"),
      danger: read("--chart-bad"),
      warn: read("--chart-warn"),
      good: read("--chart-good"),
    };
  }

  // A colour with some transparency, for the area under a line or a bar's fill.
  function faded(color, alpha) {
    const hex = /^#([0-9a-f]{6})$/i.exec(color);
    if (!hex) return color;
    const n = parseInt(hex[1], 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function durationText(seconds) {
    if (seconds == null) return "—";
    if (seconds < 10) return seconds.toFixed(1) + " s";
    const whole = Math.round(seconds);
    if (whole < 60) return whole + " s";
    const minutes = Math.floor(whole / 60);
    if (minutes < 60) return minutes + " min " + String(whole % 60).padStart(2, "0") + " s";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return Math.floor(hours / 24) + " d " + String(hours % 24).padStart(2, "0") + " h";
  }

  // Axis ticks of a duration scale, coarser than the readout.
  function durationTick(seconds) {
    if (seconds === 0) return "0";
    if (seconds < 120) return Math.round(seconds) + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  function countTick(value) {
    return Number.isInteger(value) ? String(value) : "";
  }

  // "Tue 7 Apr" under the cursor, "7 Apr" on the axis.
  const dateLabel = {
    parts: new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }),
    format: (date) => dateLabel.parts.format(date).replace(",", ""),
  };
  const tickDate = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });

  // What each chart shows: its series (a key of the data, a label, a colour, bars or a line) and its scale.
  function definitions(data, colors) {
    const charts = {
      volume: {
        unit: "count",
        series: [
          { key: "chats", label: "Chats", color: colors.brand, bars: 0 },
          { key: "missed", label: "Missed", color: colors.danger },
          { key: "offline", label: "Offline messages", color: colors.warn, dash: [5, 4] },
        ],
      },
      first: {
        unit: "duration",
        series: [
          { key: "first_median", label: "Median", color: colors.brand, area: true, gaps: true },
          { key: "first_p90", label: "p90", color: colors.warn, dash: [5, 4], gaps: true },
        ],
      },
      resolution: {
        unit: "duration",
        series: [
          { key: "resolution_median", label: "Median", color: colors.brand, area: true, gaps: true },
          { key: "resolution_p90", label: "p90", color: colors.warn, dash: [5, 4], gaps: true },
        ],
      },
      ratings: {
        unit: "count",
        series: [
          { key: "good", label: "Good", color: colors.good, bars: -1 },
          { key: "bad", label: "Bad", color: colors.danger, bars: 1 },
        ],
      },
      groups: {
        unit: "count",
        series: data.groups.map((group, index) => ({
          values: group.chats,
          label: group.name,
          color: colors.series[index % colors.series.length],
        })),
      },
    };
    return charts;
  }

  function seriesOptions(spec, days, single) {
    const options = {
      label: spec.label,
      stroke: spec.color,
      width: 2,
      spanGaps: false,
      // Points where a day may stand alone between empty days (times), or where there are few days.
      points: { show: spec.gaps || days <= 14, size: 5, fill: spec.color },
    };
    if (spec.dash) options.dash = spec.dash;
    if (spec.area) options.fill = faded(spec.color, 0.12);
    if (spec.bars !== undefined) {
      const size = single ? [0.7, 28] : [0.38, 14];
      options.paths = uPlot.paths.bars({ size: size, align: spec.bars, gap: 1 });
      options.fill = faded(spec.color, 0.85);
      options.width = 0;
      options.points = { show: false };
    }
    return options;
  }

  // The legend under a chart: each series' colour and name, and its value on the day under the cursor.
  function legend(figure, specs) {
    const list = document.createElement("ul");
    list.className = "chart-legend";
    const day = document.createElement("li");
    day.className = "chart-day";
    list.appendChild(day);
    const values = specs.map((spec) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch" + (spec.dash ? " dashed" : "");
      swatch.style.setProperty("--swatch", spec.color);
      const name = document.createElement("span");
      name.textContent = spec.label;
      const value = document.createElement("span");
      value.className = "chart-value";
      item.append(swatch, name, value);
      list.appendChild(item);
      return value;
    });
    figure.appendChild(list);
    return { list, day, values };
  }

  function draw(element, spec, data, xs, colors) {
    const specs = spec.series;
    const columns = specs.map((s) => s.values || data[s.key]);
    const format = spec.unit === "duration" ? durationText : String;
    const figure = element.closest("figure");
    const old = figure.querySelector(".chart-legend");
    if (old) old.remove();
    const shown = legend(figure, specs);
    const axis = {
      stroke: colors.axis,
      grid: { stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid, width: 1 },
      font: "12px system-ui, sans-serif",
    };
    const barCount = specs.filter((s) => s.bars !== undefined).length;
    const options = {
      width: Math.max(element.clientWidth, 200),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "UTC"),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 8 } },
      padding: [12, 12, 0, 4],
      scales: {
        x: { time: true, range: (u, min, max) => [min - DAY * 0.6, max + DAY * 0.6] },
        y: {
          // From zero, with room above the highest value; at least 4 chats or a minute tall.
          range: (u, min, max) => {
            const top = (max || 0) * 1.12;
            return [0, spec.unit === "count" ? Math.max(4, Math.ceil(top)) : Math.max(60, top)];
          },
        },
      },
      axes: [
        { ...axis, space: 64, values: (u, ticks) => ticks.map((t) => tickDate.format(new Date(t * 1000))) },
        {
          ...axis,
          size: 60,
          incrs: spec.unit === "duration" ? DURATION_STEPS : undefined,
          values: (u, ticks) => ticks.map(spec.unit === "duration" ? durationTick : countTick),
        },
      ],
      series: [{}, ...specs.map((s) => seriesOptions(s, xs.length, barCount === 1))],
      hooks: {
        setCursor: [
          (u) => {
            const idx = u.cursor.idx;
            shown.day.textContent = idx == null ? "" : dateLabel.format(new Date(xs[idx] * 1000));
            shown.values.forEach((value, n) => {
              value.textContent = idx == null ? "" : format(columns[n][idx]);
            });
          },
        ],
      },
    };
    element.replaceChildren();
    return new uPlot(options, [xs, ...columns], element);
  }

  function start() {
    const source = document.getElementById("report-data");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    const xs = data.dates.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
    const elements = Array.from(document.querySelectorAll("[data-chart]"));
    let plots = [];

    function drawAll() {
      plots.forEach((plot) => plot.destroy());
      const colors = palette();
      const specs = definitions(data, colors);
      plots = elements.map((element) => draw(element, specs[element.dataset.chart], data, xs, colors));
    }

    drawAll();
    document.documentElement.classList.add("charts-drawn");
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
    // Resized in the next frame, not inside the observer's callback: a size changed there is a layout
    // the observer must report again ("ResizeObserver loop completed with undelivered notifications").
    let pending = false;
    const resized = new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        plots.forEach((plot, n) => {
          const width = Math.max(elements[n].clientWidth, 200);
          if (plot.width !== width) plot.setSize({ width: width, height: HEIGHT });
        });
      });
    });
    elements.forEach((element) => resized.observe(element));
  }

  ready(start);
})();
