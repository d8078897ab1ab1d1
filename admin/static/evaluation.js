// 综合评价: draws the hot-spot charts from the page's JSON block (no inline script: CSP).
(function () {
  "use strict";

  function bar(id, labels, counts, options) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "上报数", data: counts, backgroundColor: "#0b4f8a" }] },
      options: Object.assign({
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      }, options || {}),
    });
  }

  function draw() {
    var block = document.getElementById("evaluation-data");
    if (!block) return;
    var data = JSON.parse(block.textContent || "{}");
    var horizontal = { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } };
    bar("chart-categories", data.categories.labels, data.categories.counts, horizontal);
    bar("chart-streets", data.streets.labels, data.streets.counts, horizontal);
    bar("chart-weekdays", data.weekdays.labels, data.weekdays.counts,
      { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } });
    document.body.setAttribute("data-charts", "ready");
  }

  // The hot spots arrive after the page (htmx): draw when they are swapped in.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "hot-spots") draw();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
