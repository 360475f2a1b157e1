// Credit report charts: every [data-echarts] element carries its complete ECharts option as JSON (built on the
// server from the report document), so this file knows nothing about reports. No inline scripts (CSP).
(function () {
  "use strict";
  const charts = [];
  // Options arrive as JSON, which cannot carry formatter functions: give counts and amounts their thousands
  // separators here (1,343 as in the tables beside the charts, not 1343), wherever the option left it open.
  const num = v => (typeof v === "number" ? v.toLocaleString("zh-CN") : v);
  function separators(option) {
    if (option.tooltip && !option.tooltip.valueFormatter) option.tooltip.valueFormatter = num;
    for (const s of [].concat(option.series || [])) {
      if (s.label && s.label.show && (!s.label.formatter || s.label.formatter === "{c}")) {
        s.label.formatter = p => num(Array.isArray(p.value) ? p.value[p.value.length - 1] : p.value);
      }
    }
    return option;
  }
  function init() {
    if (!window.echarts) return;
    for (const el of document.querySelectorAll("[data-echarts]")) {
      if (echarts.getInstanceByDom(el)) continue;
      let option;
      try { option = JSON.parse(el.dataset.echarts); } catch (e) { continue; }
      // SVG prints sharply at any scale; a canvas would print at screen resolution.
      const c = echarts.init(el, null, { renderer: "svg" });
      c.setOption(separators(option));
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
