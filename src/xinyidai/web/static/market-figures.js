// 融资统计 charts: every [data-figure-chart] element carries its complete ECharts option as JSON, built on the
// server (market/pages/figures.py); this file only draws them. No inline scripts (CSP). JSON cannot carry
// formatter functions, so the element's data-unit names how tooltips write a value: "%", "亿元" or "万元"
// (policy/pages/figures.py draws with the same file).
(function () {
  "use strict";
  const charts = [];
  const FORMATS = {
    "%": v => (typeof v === "number" ? v.toFixed(1) + "%" : "—"),
    "亿元": v => (typeof v === "number" ? v.toLocaleString("zh-CN", { maximumFractionDigits: 2 }) + " 亿元" : "—"),
    "万元": v => (typeof v === "number" ? v.toLocaleString("zh-CN", { maximumFractionDigits: 2 }) + " 万元" : "—"),
  };
  function init() {
    if (!window.echarts) return;
    for (const el of document.querySelectorAll("[data-figure-chart]")) {
      if (echarts.getInstanceByDom(el)) continue;
      let option;
      try { option = JSON.parse(el.dataset.figureChart); } catch (e) { continue; }
      const format = FORMATS[el.dataset.unit];
      if (format && option.tooltip && !option.tooltip.valueFormatter) option.tooltip.valueFormatter = format;
      // SVG prints sharply at any scale; a canvas would print at screen resolution.
      const c = echarts.init(el, null, { renderer: "svg" });
      c.setOption(option);
      charts.push(c);
    }
  }
  const resize = () => charts.forEach(c => c.resize());
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  document.addEventListener("DOMContentLoaded", init);
})();
