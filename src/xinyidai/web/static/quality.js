// Quality scorecards: the overall score's trend per provider (data in #quality-trend).
document.addEventListener("DOMContentLoaded", () => {
  const data = document.getElementById("quality-trend");
  const box = document.getElementById("chart-quality-trend");
  if (!data || !box || !window.echarts) return;
  const trend = JSON.parse(data.textContent);
  const runs = [...new Set(Object.values(trend).flat().map((p) => p.run))].sort((a, b) => a - b);
  const series = Object.entries(trend).map(([name, points]) => {
    const by = Object.fromEntries(points.map((p) => [p.run, p.score]));
    return { name, type: "line", data: runs.map((r) => by[r] ?? null), connectNulls: true };
  });
  echarts.init(box).setOption({
    tooltip: { trigger: "axis" }, legend: { type: "scroll" },
    xAxis: { type: "category", data: runs.map((r) => "#" + r) }, yAxis: { type: "value", min: 0, max: 100 },
    series,
  });
});
