// xinyidai page scripts: overview charts (ECharts) and upload progress. No inline scripts (CSP).
(function () {
  "use strict";
  const RED = "#b4232a";
  // Counts as people read them: 1,343, not 1343 (tooltips and bar labels; value axes already do this).
  const num = v => (typeof v === "number" ? v.toLocaleString("zh-CN") : v);
  // A name axis: long names (departments, banks) keep the grid wide enough (containLabel), and one longer
  // than the label width (LABEL_WIDTH, or 40% of a phone-wide chart) is cut at the end with "…" — never at the
  // start — and shown whole in the tooltip.
  const LABEL_WIDTH = 260;
  const labelWidth = el => Math.min(LABEL_WIDTH, Math.round(el.clientWidth * 0.4));
  const nameAxis = (names, horizontal, el) => ({ type: "category", data: names, axisLabel: horizontal
    ? { interval: 0, width: labelWidth(el), overflow: "truncate" } : { interval: 0, rotate: 35, width: 110, overflow: "truncate" } });
  // A value axis that never crowds its numbers on a narrow chart.
  const valueAxis = el => ({ type: "value", splitNumber: el.clientWidth < 500 ? 3 : 5, axisLabel: { formatter: num, hideOverlap: true } });
  function charts() {
    const dataEl = document.getElementById("overview-data");
    if (!dataEl || !window.echarts) return;
    const d = JSON.parse(dataEl.textContent);
    const bar = (el, names, values, horizontal) => {
      const c = echarts.init(el);
      const cat = nameAxis(names, horizontal, el);
      const val = valueAxis(el);
      c.setOption({
        tooltip: { trigger: "axis", valueFormatter: num }, grid: { left: 12, right: 24, top: 10, bottom: 10, containLabel: true },
        xAxis: horizontal ? val : cat, yAxis: horizontal ? Object.assign(cat, { inverse: true }) : val,
        series: [{ type: "bar", data: values, itemStyle: { color: RED }, barMaxWidth: 28 }],
      });
      return c;
    };
    // Records by category run from a handful (严重失信) to most of the store (电费): on a linear axis the small
    // ones are invisible. A logarithmic axis shows every category, and each bar carries its count.
    const categories = el => {
      const names = d.by_category.map(r => r.name);
      el.style.height = Math.max(320, names.length * 24 + 40) + "px";
      const c = echarts.init(el);
      c.setOption({
        tooltip: { trigger: "axis", valueFormatter: v => (v == null ? "0" : num(v)) },
        grid: { left: 12, right: 56, top: 10, bottom: 30, containLabel: true },
        xAxis: Object.assign(valueAxis(el), { type: "log", logBase: 10, min: 1, name: "条（对数刻度）", nameLocation: "middle", nameGap: 24 }),
        yAxis: Object.assign(nameAxis(names, true, el), { inverse: true }),
        series: [{ type: "bar", data: d.by_category.map(r => r.count || null), itemStyle: { color: RED }, barMaxWidth: 18,
          label: { show: true, position: "right", formatter: p => num(p.value) } }],
      });
      return c;
    };
    const all = [];
    for (const el of document.querySelectorAll("[data-chart]")) {
      const kind = el.dataset.chart;
      if (kind === "region") all.push(bar(el, d.by_region.map(r => r.name), d.by_region.map(r => r.count), false));
      if (kind === "category") all.push(categories(el));
      if (kind === "provider") all.push(bar(el, d.by_provider.map(r => r.name), d.by_provider.map(r => r.count), true));
      if (kind === "status") {
        const c = echarts.init(el);
        const colors = { accepted: "#1f8a4c", partial: "#d69e2e", rejected: "#c53030", duplicate: "#a0aec0", failed: "#742a2a", processing: "#2b6cb0" };
        c.setOption({ tooltip: { trigger: "item", valueFormatter: num }, legend: { bottom: 0 },
          series: [{ type: "pie", radius: ["40%", "70%"], label: { formatter: p => p.name + ": " + num(p.value) },
            data: d.deliveries_by_status.map(s => ({ name: s.name, value: s.count, itemStyle: { color: colors[s.status] } })) }] });
        all.push(c);
      }
    }
    window.addEventListener("resize", () => all.forEach(c => c.resize()));
  }
  function upload() {
    const form = document.getElementById("upload-form");
    if (!form || !window.FormData) return;
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const box = document.getElementById("upload-progress"), bar = document.getElementById("upload-bar"), label = document.getElementById("upload-label");
      box.hidden = false;
      form.querySelector("button[type=submit]").disabled = true;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = e => {
        if (!e.lengthComputable) return;
        const pct = Math.round(e.loaded / e.total * 100);
        bar.style.width = pct + "%";
        label.textContent = "正在上传… " + pct + "%";
      };
      xhr.onload = () => {
        if (xhr.responseURL && xhr.responseURL !== window.location.href && xhr.status < 400) { window.location = xhr.responseURL; return; }
        document.open(); document.write(xhr.responseText); document.close();
      };
      xhr.onerror = () => { label.textContent = "上传失败：网络错误，请重试"; form.querySelector("button[type=submit]").disabled = false; };
      xhr.send(new FormData(form));
    });
  }
  function accessChart() {
    // "谁查看了我的数据": accesses per institution, served and refused stacked.
    const dataEl = document.getElementById("access-chart-data"), el = document.querySelector("[data-access-chart]");
    if (!dataEl || !el || !window.echarts) return;
    const d = JSON.parse(dataEl.textContent);
    const c = echarts.init(el);
    c.setOption({
      animation: false, tooltip: { trigger: "axis", valueFormatter: num }, legend: { top: 0 },
      grid: { left: 12, right: 30, top: 30, bottom: 10, containLabel: true },
      xAxis: Object.assign(valueAxis(el), { minInterval: 1 }), yAxis: Object.assign(nameAxis(d.map(r => r.name), true, el), { inverse: true }),
      series: [
        { name: "成功", type: "bar", stack: "n", data: d.map(r => r.served), itemStyle: { color: "#2b6cb0" }, barMaxWidth: 22 },
        { name: "已拒绝", type: "bar", stack: "n", data: d.map(r => r.refused), itemStyle: { color: RED }, barMaxWidth: 22 },
      ],
    });
    window.addEventListener("resize", () => c.resize());
  }
  function verifyForm() {
    // A claim on a category alone ("纳税：是否有记录") can only ask whether records exist: choosing one sets
    // the comparison to 存在记录, where the form's first comparison (不低于) would be refused for want of a value.
    const form = document.querySelector("form.verify-form");
    if (!form) return;
    form.addEventListener("change", ev => {
      const m = /^target_(\d+)$/.exec(ev.target.name || "");
      if (!m || !ev.target.value || ev.target.value.includes(":")) return;
      const op = form.querySelector(`select[name="op_${m[1]}"]`);
      if (op && op.value !== "exists" && op.value !== "not_exists") op.value = "exists";
    });
  }
  document.addEventListener("DOMContentLoaded", () => { charts(); upload(); accessChart(); verifyForm(); });
})();
