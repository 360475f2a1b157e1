// Node network: the topology tree (ECharts) drawn from the JSON the live fragment carries. No inline scripts (CSP).
(function () {
  "use strict";
  const COLORS = { active: "#1f8a4c", pending: "#2b6cb0", rectifying: "#b7791f", rejected: "#c53030", revoked: "#c53030", self: "#b4232a" };
  const ROLE = { national: "国家级", provincial: "省级", municipal: "市级" };
  let chart = null, latest = null;

  const fmt = n => (n || 0).toLocaleString("zh-CN");

  function peerNode(p) {
    const lines = [p.name, p.code + " · " + p.status_label];
    lines.push("积压 " + fmt(p.backlog) + (p.backlog ? "（" + Math.round(p.lag_s) + " 秒）" : ""));
    lines.push("已发往 " + fmt(p.sent) + " · 已收自 " + fmt(p.received));
    if (p.last_contact_ago) lines.push("联系 " + p.last_contact_ago);
    return { name: lines.join("\n"), code: p.code, status: p.status,
             itemStyle: { color: COLORS[p.status] || "#a0aec0", borderColor: COLORS[p.status] || "#a0aec0" },
             label: { color: p.status === "active" ? "#1f2933" : COLORS[p.status] || "#6b7785" } };
  }

  function tree(d) {
    const me = d.self;
    const self = { name: [me.name, me.code + " · 本节点（" + (ROLE[me.role] || me.role) + "）", "持有记录 " + fmt(me.records),
                          "待发送 " + fmt(me.backlog)].join("\n"),
                   itemStyle: { color: COLORS.self, borderColor: COLORS.self }, symbolSize: 18,
                   label: { fontWeight: "bold", color: "#b4232a" },
                   children: d.peers.filter(p => p.relation === "child").map(peerNode) };
    const parent = d.peers.find(p => p.relation === "parent");
    if (!parent) return self;
    const root = peerNode(parent);
    root.children = [self];
    return root;
  }

  function draw() {
    const el = document.querySelector("[data-topology-chart]"), dataEl = document.getElementById("topology-data");
    if (!el || !dataEl || !window.echarts) return;
    const d = latest = JSON.parse(dataEl.textContent);
    if (!chart) {
      chart = echarts.init(el);
      window.addEventListener("resize", () => chart.resize());
      chart.on("click", p => { if (p.data && p.data.code && p.data.status !== undefined) {
        const row = latest.peers.find(x => x.code === p.data.code);
        if (row && row.relation === "child") window.location = "/network/peers/" + encodeURIComponent(p.data.code);
      } });
    }
    // The box fits the tree's levels (parent, this node, children): a lone node sits in a short box instead
    // of at the top of a tall empty one.
    const levels = 1 + (d.peers.some(p => p.relation === "parent") ? 1 : 0) + (d.peers.some(p => p.relation === "child") ? 1 : 0);
    const height = { 1: 200, 2: 320, 3: 440 }[levels] + "px";
    if (el.style.height !== height) { el.style.height = height; chart.resize(); }
    // A fresh draw each time: merging a changed tree into the old one trips ECharts ("__edge" of null).
    chart.clear();
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", formatter: p => (p.data.name || "").replace(/\n/g, "<br>") },
      series: [{
        type: "tree", orient: "TB", data: [tree(d)], top: 30, bottom: 120, left: 80, right: 80,
        symbol: "circle", symbolSize: 14, expandAndCollapse: false, initialTreeDepth: -1,
        label: { position: "bottom", distance: 8, fontSize: 12, lineHeight: 17, align: "center", verticalAlign: "top",
                 backgroundColor: "#fff", padding: [2, 4] },
        leaves: { label: { position: "bottom", align: "center", verticalAlign: "top" } },
        lineStyle: { color: "#cbd2d9", width: 2, curveness: 0.4 },
      }],
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
