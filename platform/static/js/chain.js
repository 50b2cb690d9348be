// Suyuan trace chain view: draws the chain graph ([data-chain-graph], from the JSON graph) and
// the flow map ([data-chain-map], from the GeoJSON) with ECharts, on the offline China map.
(function () {
  "use strict";

  // From charts.js (loaded first): reading the API, and an empty state with a message.
  var getJson = window.suyuanCharts.getJson;
  var message = window.suyuanCharts.message;

  // Every value in a tooltip is text from reporters anywhere in the chain: escaped, never markup.
  function esc(v) { return echarts.format.encodeHTML(v == null ? "" : String(v)); }

  var TYPE = { producer: "生产企业", processor: "加工企业", wholesaler: "批发企业", market: "批发市场",
    retailer: "零售企业", catering: "餐饮企业", logistics: "物流企业", laboratory: "检测机构", other: "其他",
    merchant: "个体经营户" };

  // Columns by depth (upstream left), rows in each column by order.
  function graph(el) {
    getJson(el.getAttribute("data-src")).then(function (c) {
      el.innerHTML = "";
      var columns = {};
      c.nodes.forEach(function (n) { (columns[n.depth] = columns[n.depth] || []).push(n); });
      var data = c.nodes.map(function (n) {
        var col = columns[n.depth];
        var start = n.depth === 0;
        return {
          id: n.id, name: n.subject_name || n.subject_code,
          x: n.depth * 220, y: (col.indexOf(n) - col.length / 2) * 70,
          symbolSize: start ? 26 : 16,
          itemStyle: { color: !n.in_reach ? "#9aa5b1" : start ? "#b4232a" : "#0b57a4", borderColor: "#fff", borderWidth: start ? 3 : 1 },
          label: { show: true, position: "bottom", fontWeight: start ? "bold" : "normal",
            // A function, not a template string: braces in the data are text.
            formatter: function () { return (n.subject_name || n.subject_code) + "\n" + n.batch_no; } },
          tip: [esc(n.subject_name) + "（" + esc(n.subject_code) + "）", "类型：" + esc(TYPE[n.subject_type] || n.subject_type || "—"),
            "批次：" + esc(n.batch_no), "地区：" + esc(n.division_code), "负责单位：" + esc(n.tenant_name),
            n.in_reach ? "联系人：" + esc(n.contact_name || "—") + " " + esc(n.contact_phone || "") : "辖区外：只显示公开信息"].join("<br>")
        };
      });
      var links = c.flows.map(function (f) {
        return { source: f.from, target: f.to, lineStyle: { type: f.kind === "process" ? "dashed" : "solid" },
          tip: (f.kind === "process" ? "加工投入" : "销售流通") + "：" + esc(f.product_name) + (f.quantity != null ? " " + esc(f.quantity) + (f.unit ? " " + esc(f.unit) : "") : "") };
      });
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption({
        tooltip: { formatter: function (p) { return p.data && p.data.tip ? p.data.tip : ""; } },
        series: [{ type: "graph", layout: "none", roam: true, data: data, links: links, edgeSymbol: ["none", "arrow"],
          edgeSymbolSize: 8, lineStyle: { color: "#7a8ca3", width: 1.5, curveness: 0.1 }, emphasis: { focus: "adjacency" } }]
      });
      el.dataset.rendered = "graph";
      window.addEventListener("resize", function () { chart.resize(); });
    }).catch(function (e) { message(el, "链条图加载失败：" + e.message); });
  }

  function flowMap(el) {
    Promise.all([getJson(el.getAttribute("data-src")), getJson("/static/vendor/maps/100000.json")]).then(function (r) {
      var fc = r[0], geo = r[1];
      el.innerHTML = "";
      if (!echarts.getMap("china")) echarts.registerMap("china", geo);
      var points = [], lines = [];
      fc.features.forEach(function (f) {
        var p = f.properties;
        if (f.geometry.type === "Point") {
          points.push({ name: p.name, value: f.geometry.coordinates.concat([p.depth]),
            itemStyle: { color: !p.in_reach ? "#9aa5b1" : p.depth === 0 ? "#b4232a" : "#0b57a4" } });
        } else {
          lines.push({ coords: f.geometry.coordinates, name: p.product_name,
            lineStyle: { type: p.kind === "process" ? "dashed" : "solid" } });
        }
      });
      if (!points.length) { message(el, "链条中的主体都没有坐标，无法在地图上显示。"); el.dataset.rendered = "empty"; return; }
      // Frame the chain, not the whole country: its points' extent with a margin.
      var lons = points.map(function (p) { return p.value[0]; }), lats = points.map(function (p) { return p.value[1]; });
      var pad = 3;
      var bounds = [[Math.min.apply(null, lons) - pad, Math.max.apply(null, lats) + pad],
        [Math.max.apply(null, lons) + pad, Math.min.apply(null, lats) - pad]];
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption({
        tooltip: { trigger: "item", formatter: function (p) { return p.seriesType === "lines" ? "流向：" + esc(p.name) : esc(p.name); } },
        geo: { map: "china", roam: true, boundingCoords: bounds, label: { show: true, fontSize: 10, color: "#7a8ca3" },
          itemStyle: { areaColor: "#eef2f7", borderColor: "#9aa8ba" }, emphasis: { disabled: true } },
        series: [
          { type: "lines", coordinateSystem: "geo", data: lines, zlevel: 1,
            effect: { show: true, period: 5, symbol: "arrow", symbolSize: 6 },
            lineStyle: { color: "#d97706", width: 1.5, opacity: 0.8, curveness: 0.2 } },
          { type: "effectScatter", coordinateSystem: "geo", data: points, zlevel: 2, symbolSize: 9,
            rippleEffect: { scale: 2.5 }, label: { show: points.length <= 30, formatter: "{b}", position: "right", fontSize: 10 } }
        ]
      });
      el.dataset.rendered = "map";
      el.dataset.points = String(points.length);
      el.dataset.lines = String(lines.length);
      window.addEventListener("resize", function () { chart.resize(); });
    }).catch(function (e) { message(el, "流向地图加载失败：" + e.message); });
  }

  function start() {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll("[data-chain-graph]").forEach(graph);
    document.querySelectorAll("[data-chain-map]").forEach(flowMap);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
