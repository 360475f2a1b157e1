// Credit report charts: every [data-echarts] element carries its complete ECharts option as JSON (built on the
// server from the report document), so this file knows nothing about reports. No inline scripts (CSP).
(function () {
  "use strict";
  const charts = [];
  function init() {
    if (!window.echarts) return;
    for (const el of document.querySelectorAll("[data-echarts]")) {
      if (echarts.getInstanceByDom(el)) continue;
      let option;
      try { option = JSON.parse(el.dataset.echarts); } catch (e) { continue; }
      // SVG prints sharply at any scale; a canvas would print at screen resolution.
      const c = echarts.init(el, null, { renderer: "svg" });
      c.setOption(option);
      charts.push(c);
    }
  }
  const resize = () => charts.forEach(c => c.resize());
  window.addEventListener("resize", resize);
  // The printed page is narrower than the screen: lay the charts out again for it and back afterwards.
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  document.addEventListener("DOMContentLoaded", init);
  // Fragments swapped in by htmx bring their own charts.
  document.addEventListener("htmx:afterSettle", init);
})();
