// Suyuan charts and maps. Reads the console's JSON API and draws with ECharts:
//  - every [data-chart=key] inside [data-chart-src=url] gets the chart `key` of that
//    response's `charts` array ({kind: line|bar|pie|ranking, title, unit, categories, series});
//    beside it a table view and a CSV download of the same numbers;
//  - every [data-map] draws the region map from data-map-src (?region=code) on the offline
//    GeoJSON in /static/vendor/maps/<code>.json, with drill-down on click.
(function () {
  "use strict";

  var PALETTE = ["#0b57a4", "#d97706", "#16a34a", "#b4232a", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"];

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (p) {
          throw new Error((p && (p.detail || p.title)) || ("HTTP " + r.status));
        });
      }
      return r.json();
    });
  }

  function message(el, text) {
    el.innerHTML = "";
    var p = document.createElement("div");
    p.className = "empty";
    p.textContent = text;
    el.appendChild(p);
  }

  // Redraw after the window settles, and only while the element has a size: a zero-sized
  // map (mid-resize, or hidden) has no invertible transform and ECharts throws.
  function onResize(el, redraw) {
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (el.clientWidth > 0 && el.clientHeight > 0) redraw();
      }, 150);
    });
  }

  function optionFor(c) {
    var base = { color: PALETTE, tooltip: { trigger: c.kind === "pie" ? "item" : "axis" }, grid: { left: 48, right: 24, top: 36, bottom: 32, containLabel: true } };
    if (c.kind === "pie") {
      base.legend = { bottom: 0 };
      base.series = [{ type: "pie", radius: ["35%", "65%"], name: c.series[0] ? c.series[0].name : c.title,
        data: c.categories.map(function (name, i) { return { name: name, value: c.series[0] ? c.series[0].data[i] : 0 }; }),
        label: { formatter: "{b}: {c}" + (c.unit || "") } }];
      return base;
    }
    if (c.kind === "ranking") {
      base.xAxis = { type: "value", name: c.unit, minInterval: 1 };
      base.yAxis = { type: "category", data: c.categories.slice().reverse() };
      base.series = c.series.map(function (s) { return { type: "bar", name: s.name, data: s.data.slice().reverse(), label: { show: true, position: "right" } }; });
      return base;
    }
    base.legend = { top: 0 };
    base.xAxis = { type: "category", data: c.categories };
    base.yAxis = { type: "value", name: c.unit, minInterval: 1 };
    base.series = c.series.map(function (s) { return { type: c.kind === "line" ? "line" : "bar", name: s.name, data: s.data, smooth: false, symbolSize: 5 }; });
    return base;
  }

  function tableFor(c) {
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    [c.kind === "line" ? "日期" : "项目"].concat(c.series.map(function (s) { return s.name + (c.unit ? "（" + c.unit + "）" : ""); }))
      .forEach(function (h) { var th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th); });
    var body = table.createTBody();
    c.categories.forEach(function (cat, i) {
      var row = body.insertRow();
      row.insertCell().textContent = cat;
      c.series.forEach(function (s) { var td = row.insertCell(); td.className = "num"; td.textContent = s.data[i]; });
    });
    return table;
  }

  function csvFor(c) {
    var esc = function (v) {
      v = String(v);
      if (/^[=+\-@\t\r]/.test(v)) v = "'" + v; // never a spreadsheet formula
      return /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
    };
    var lines = [[c.kind === "line" ? "日期" : "项目"].concat(c.series.map(function (s) { return s.name; })).map(esc).join(",")];
    c.categories.forEach(function (cat, i) {
      lines.push([cat].concat(c.series.map(function (s) { return s.data[i]; })).map(esc).join(","));
    });
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }

  function drawChart(el, c) {
    el.innerHTML = "";
    var empty = c.categories.length === 0 || c.series.every(function (s) { return s.data.every(function (v) { return !v; }); });
    if (empty) { message(el, "暂无数据"); el.dataset.rendered = "empty"; return; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(optionFor(c));
    onResize(el, function () { chart.resize(); });
    el.dataset.rendered = "chart";
  }

  function initCharts(holder) {
    getJson(holder.getAttribute("data-chart-src")).then(function (data) {
      var byKey = {};
      (data.charts || []).forEach(function (c) { byKey[c.key] = c; });
      holder.querySelectorAll("[data-chart]").forEach(function (el) {
        var key = el.getAttribute("data-chart");
        var c = byKey[key];
        if (!c) { message(el, "暂无数据"); return; }
        drawChart(el, c);
        var tableBox = holder.querySelector('[data-chart-table="' + key + '"]');
        tableBox.appendChild(tableFor(c));
        var toggle = holder.querySelector('[data-chart-toggle="' + key + '"]');
        toggle.addEventListener("click", function () {
          var show = tableBox.hidden;
          tableBox.hidden = !show;
          el.hidden = show;
          toggle.setAttribute("aria-pressed", show ? "true" : "false");
          toggle.textContent = show ? "图表" : "表格";
          if (!show) window.dispatchEvent(new Event("resize")); // the chart may have missed a resize while hidden
        });
        holder.querySelector('[data-chart-csv="' + key + '"]').addEventListener("click", function () {
          var blob = new Blob([csvFor(c)], { type: "text/csv;charset=utf-8" });
          var a = document.createElement("a");
          a.href = URL.createObjectURL(blob);
          a.download = c.title + ".csv";
          document.body.appendChild(a);
          a.click();
          setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
        });
      });
    }).catch(function (e) {
      holder.querySelectorAll("[data-chart]").forEach(function (el) { message(el, "加载失败：" + e.message); });
    });
  }

  var registered = {};
  function loadMap(code) {
    if (registered[code]) return Promise.resolve(registered[code]);
    return getJson("/static/vendor/maps/" + code + ".json").then(function (geo) {
      echarts.registerMap("r" + code, geo);
      registered[code] = geo;
      return geo;
    });
  }

  // Points coloured by kind (one series each, with a legend); a clustered point's value is
  // how many it stands for, shown by its size.
  function kinds(points) {
    var seen = [];
    points.forEach(function (p) { if (seen.indexOf(p.kind) < 0) seen.push(p.kind); });
    return seen;
  }
  function pointSeries(points) {
    return kinds(points).map(function (k, i) {
      return { type: "scatter", coordinateSystem: "geo", name: k, itemStyle: { color: PALETTE[(i + 3) % PALETTE.length], opacity: 0.85 },
        symbolSize: function (v) { return Math.min(32, 7 + Math.sqrt(v[2] || 1) * 2); },
        data: points.filter(function (p) { return p.kind === k; }).map(function (p) { return { name: p.name, value: [p.longitude, p.latitude, p.value] }; }) };
    });
  }

  function initMap(el) {
    var chart = null;
    var stack = [];
    onResize(el, function () { if (chart && !chart.isDisposed()) chart.resize(); });
    var box = el.closest("section") || document;
    var back = box.querySelector("[data-map-back]");
    var caption = box.querySelector("[data-map-caption]");
    var picker = box.querySelector("[data-map-select]");
    var current = null;

    function drill(code) {
      var level = code.slice(2) === "0000" ? "province" : (code.slice(4) === "00" ? "city" : "county");
      if (level === "province") {
        stack.push(current);
        show(code, null);
      } else if (level === "city" && !current[1]) {
        stack.push(current);
        show(code, current[0]);
      }
    }

    function show(region, cityOnly) {
      var src = el.getAttribute("data-map-src");
      return getJson(src + (src.indexOf("?") >= 0 ? "&" : "?") + "region=" + encodeURIComponent(region)).then(function (data) {
        // A city has no map of its own (no county outlines shipped): draw it from its province.
        var mapCode = cityOnly ? cityOnly : region;
        return loadMap(mapCode).then(function (geo) { return [data, geo]; });
      }).then(function (pair) {
        var data = pair[0], geo = pair[1];
        var values = {};
        var total = 0;
        data.regions.forEach(function (r) { values[r.code] = r.value; total += r.value; });
        if (cityOnly) values[region] = total;
        var features = geo.features.filter(function (f) { return !cityOnly || f.properties.adcode === region; });
        var mapName = "r" + (cityOnly ? cityOnly + "-" + region : region);
        if (cityOnly && !registered[mapName]) {
          echarts.registerMap(mapName, { type: "FeatureCollection", features: features });
          registered[mapName] = true;
        }
        var seriesData = features.map(function (f) {
          return { name: f.properties.name, adcode: f.properties.adcode, value: values[f.properties.adcode] || 0 };
        });
        var max = Math.max(1, Math.max.apply(null, seriesData.map(function (d) { return d.value; })));
        // A fresh chart for every region: reusing one across maps left stale geo state that
        // broke its next resize.
        if (chart) chart.dispose();
        el.innerHTML = "";
        chart = echarts.init(el, null, { renderer: "svg" });
        chart.on("click", function (p) {
          if (p.seriesType !== "map" || !p.data || !p.data.adcode) return;
          drill(p.data.adcode);
        });
        chart.setOption({
          tooltip: { trigger: "item", formatter: function (p) {
            // Names come from filings and applications: never HTML.
            var v = Array.isArray(p.value) ? "" : ("：" + (p.value || 0) + " " + data.unit);
            return echarts.format.encodeHTML(String(p.name)) + echarts.format.encodeHTML(v);
          } },
          visualMap: { min: 0, max: max, left: 8, bottom: 8, text: ["多", "少"], calculable: true, inRange: { color: ["#e8f1fb", "#0b57a4"] } },
          geo: { map: mapName, roam: true, label: { show: !!cityOnly || features.length < 40, fontSize: 10 }, itemStyle: { borderColor: "#7a8ca3" } },
          series: [
            { type: "map", geoIndex: 0, name: data.metric, data: seriesData },
          ].concat(pointSeries(data.points)),
          legend: kinds(data.points).length > 1 ? { top: 0, right: 8, data: kinds(data.points) } : undefined
        }, true);
        el.dataset.rendered = "map";
        el.dataset.region = region;
        current = [region, cityOnly];
        if (picker) {
          picker.innerHTML = "";
          var drillable = seriesData.filter(function (d) { return !cityOnly && d.adcode && d.adcode !== region && (d.adcode.slice(2) === "0000" || d.adcode.slice(4) === "00"); });
          var first = document.createElement("option");
          first.value = "";
          first.textContent = "查看下级地区…";
          picker.appendChild(first);
          drillable.forEach(function (d) {
            var o = document.createElement("option");
            o.value = d.adcode;
            o.textContent = d.name + "（" + d.value + "）";
            picker.appendChild(o);
          });
          picker.hidden = drillable.length === 0;
        }
        if (caption) caption.textContent = (data.metric || "") + " · 地区代码 " + region;
        if (back) back.hidden = stack.length === 0;
      }).catch(function (e) { message(el, "地图加载失败：" + e.message); });
    }

    if (picker) {
      picker.addEventListener("change", function () { if (picker.value) drill(picker.value); });
    }
    if (back) {
      back.addEventListener("click", function () {
        var prev = stack.pop();
        if (prev) show(prev[0], prev[1]);
      });
    }
    var start = el.getAttribute("data-region") || "100000";
    var province = start.slice(0, 2) + "0000";
    var municipality = ["11", "12", "31", "50"].indexOf(start.slice(0, 2)) >= 0;
    if (start === "100000" || start === province) {
      show(start, null);
    } else if (municipality || start.slice(4) === "00") {
      show(start, province);
    } else {
      show(start.slice(0, 4) + "00", province);
    }
  }

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll("[data-chart-src]").forEach(initCharts);
    document.querySelectorAll("[data-map]").forEach(initMap);
  });
  // Shared with the other page scripts (chain.js): one way to read the API and to say why
  // something could not be drawn.
  window.suyuanCharts = { getJson: getJson, message: message };
})();
