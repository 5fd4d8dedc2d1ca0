// Home: the "alerts over time" chart, stacked by severity, drawn from the page's json_script block.
// A click on a day's bar opens the alerts created that day.
(function () {
  "use strict";
  const canvas = document.getElementById("alerts-over-time-chart");
  const source = document.getElementById("alerts-over-time-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const style = getComputedStyle(document.documentElement);
  const colour = function (name) { return style.getPropertyValue("--" + name).trim(); };
  const colours = { high: colour("high"), medium: colour("medium"), low: colour("low"), informational: "#a19f9d" };
  const dayLabel = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  const labels = data.days.map(function (day) { return dayLabel.format(new Date(day + "T00:00:00Z")); });

  Chart.defaults.font.family = style.getPropertyValue("--font").trim() || "sans-serif";
  Chart.defaults.font.size = 11;
  Chart.defaults.color = colour("text-3") || "#616161";

  function openDay(index) {
    const url = new URL(canvas.dataset.listUrl, window.location.href);
    url.searchParams.set("status", "all");
    url.searchParams.set("date_from", data.days[index]);
    url.searchParams.set("date_to", data.days[index]);
    window.location.href = url.toString();
  }

  const chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: labels,
      datasets: data.series.map(function (series) {
        return {
          label: series.label,
          data: series.counts,
          backgroundColor: colours[series.severity],
          borderWidth: 0,
          maxBarThickness: 18,
        };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, grid: { color: colour("border") || "#e0e0e0" } },
      },
      plugins: {
        legend: { position: "bottom", align: "start", labels: { boxWidth: 10, boxHeight: 10, padding: 14 } },
        tooltip: {
          filter: function (item) { return item.raw > 0; },
          callbacks: { footer: function () { return "Click to open these alerts"; } },
        },
      },
      onClick: function (event) {
        const hit = chart.getElementsAtEventForMode(event, "index", { intersect: false }, false);
        if (hit.length) openDay(hit[0].index);
      },
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      },
    },
  });
  canvas.dataset.drawn = "true";
})();
