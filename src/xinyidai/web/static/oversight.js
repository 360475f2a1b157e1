// 考核排名 map: the element's data-oversight-map carries the complete ECharts option (built on the server,
// oversight/pages/ranking.py); this file registers the province's schematic GeoJSON, draws it, and opens a
// city's page when one is clicked. No inline scripts (CSP).
(function () {
  "use strict";
  async function init() {
    const el = document.querySelector("[data-oversight-map]");
    if (!el || !window.echarts) return;
    let option;
    try { option = JSON.parse(el.dataset.oversightMap); } catch (e) { return; }
    const geo = await fetch("/static/geo/heilongjiang.json").then(r => r.json());
    const codes = {};
    for (const f of geo.features) codes[f.properties.name] = f.properties.adcode;
    echarts.registerMap("heilongjiang", geo);
    option.tooltip.formatter = p => p.data ? `${p.name}<br>总分 ${p.data.value.toFixed(2)}<br>第 ${p.data.rank} 名` : p.name;
    const chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option);
    chart.on("click", p => { if (codes[p.name]) window.location.href = el.dataset.drill + codes[p.name]; });
    el.dataset.ready = "1";
    window.addEventListener("resize", () => chart.resize());
  }
  document.addEventListener("DOMContentLoaded", init);
})();
