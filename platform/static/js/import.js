// Suyuan bulk import: sends the chosen file to POST /api/v1/imports, then polls the import
// and shows its progress, and every bad row (row, column, reason). After a check with bad
// rows it offers to import only the good ones (the same file, sent again).
(function () {
  "use strict";

  var MODES = { dry_run: "检查", all_or_nothing: "导入", good_rows: "导入有效行" };

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var form = document.querySelector("[data-import]");
    if (!form) return;
    var box = document.querySelector("[data-import-result]");
    var status = box.querySelector("[data-import-status]");
    var bar = box.querySelector("[data-import-progress]");
    var good = box.querySelector("[data-import-good]");
    var errors = box.querySelector("[data-import-errors]");
    var button = form.querySelector("button[type=submit]");

    function setProgress(pct, indeterminate) {
      bar.classList.toggle("indeterminate", !!indeterminate);
      bar.firstElementChild.style.width = indeterminate ? "" : pct + "%";
      bar.setAttribute("aria-valuenow", String(Math.round(pct)));
    }

    function problem(r) {
      return r.json().catch(function () { return {}; }).then(function (p) {
        var first = p.errors && p.errors[0];
        throw new Error((first && first.message) || p.detail || p.title || ("HTTP " + r.status));
      });
    }

    function showErrors(job) {
      errors.innerHTML = "";
      if (!job.errors.length) return;
      var table = document.createElement("table");
      var head = table.createTHead().insertRow();
      ["行", "列", "问题"].forEach(function (h) { var th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th); });
      var body = table.createTBody();
      job.errors.forEach(function (e) {
        var row = body.insertRow();
        row.insertCell().textContent = e.row;
        row.insertCell().textContent = e.column;
        row.insertCell().textContent = e.message;
      });
      errors.appendChild(table);
      if (job.bad_rows > job.errors.length) {
        var more = document.createElement("p");
        more.className = "small muted";
        more.textContent = "只列出前 " + job.errors.length + " 个问题，共有 " + job.bad_rows + " 行有问题。";
        errors.appendChild(more);
      }
    }

    function poll(id, mode) {
      fetch("/api/v1/imports/" + id, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : problem(r); })
        .then(function (job) {
          var total = Math.max(1, job.total_rows);
          if (job.status === "checking") {
            setProgress(job.processed_rows / total * 100, false);
            status.textContent = "正在检查：" + job.processed_rows + " / " + job.total_rows + " 行";
          } else if (job.status === "writing") {
            setProgress(100, true);
            status.textContent = "检查完毕，正在写入 " + job.good_rows + " 行……";
          }
          if (job.status === "checking" || job.status === "writing") {
            setTimeout(function () { poll(id, mode); }, 500);
            return;
          }
          setProgress(100, false);
          button.disabled = false;
          showErrors(job);
          if (job.status === "failed") {
            status.textContent = "导入失败，未写入数据。请稍后重试或联系管理员。";
          } else if (mode === "dry_run") {
            status.textContent = "检查完毕：共 " + job.total_rows + " 行，" + job.good_rows + " 行没有问题，" + job.bad_rows + " 行有问题。未写入任何数据。";
            good.hidden = !(job.bad_rows > 0 && job.good_rows > 0);
          } else if (job.imported_rows === 0 && job.bad_rows > 0) {
            status.textContent = "有 " + job.bad_rows + " 行有问题，按所选方式全部未导入。请修改后重试，或选择“只导入没有问题的行”。";
            good.hidden = job.good_rows === 0;
          } else {
            status.textContent = "已导入 " + job.imported_rows + " 行" + (job.bad_rows ? "，" + job.bad_rows + " 行有问题未导入" : "") + "。";
            good.hidden = true;
          }
        })
        .catch(function (e) { status.textContent = "读取进度失败：" + e.message; button.disabled = false; });
    }

    function start(mode) {
      var file = form.querySelector("input[type=file]").files[0];
      if (!file) { status.textContent = "请选择文件"; box.hidden = false; return; }
      var xlsx = /\.xlsx$/i.test(file.name);
      var params = new URLSearchParams({ kind: form.kind.value, mode: mode, file_name: file.name, format: xlsx ? "xlsx" : "csv" });
      if (form.submit.checked) params.set("submit", "true");
      box.hidden = false;
      good.hidden = true;
      errors.innerHTML = "";
      button.disabled = true;
      setProgress(0, true);
      status.textContent = "正在上传 " + file.name + "……";
      fetch("/api/v1/imports?" + params.toString(), {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Content-Type": xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv", Accept: "application/json" }
      })
        .then(function (r) { return r.ok ? r.json() : problem(r); })
        .then(function (job) { status.textContent = "已上传，正在" + MODES[mode] + "……"; poll(job.id, mode); })
        .catch(function (e) { status.textContent = "无法开始：" + e.message; setProgress(0, false); button.disabled = false; });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      start(form.querySelector("input[name=mode]:checked").value);
    });
    good.addEventListener("click", function () { start("good_rows"); });
  });
})();
