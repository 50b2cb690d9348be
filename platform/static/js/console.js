// Suyuan console behaviour: navigation toggle on phones, auto-submitting selects,
// confirmation before destructive actions, toasts. Pages work without it; this only helps.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var toggle = document.querySelector("[data-nav-toggle]");
    var nav = document.getElementById("sidenav");
    if (toggle && nav) {
      toggle.addEventListener("click", function () {
        var open = nav.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }

    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });

    // Destructive actions: <form data-confirm="确定……？"> asks first, in an accessible dialog.
    var dialog = document.getElementById("confirm-dialog");
    var pending = null;
    var pendingButton = null;
    if (dialog && typeof dialog.showModal === "function") {
      dialog.querySelector("[data-confirm-cancel]").addEventListener("click", function () {
        pending = null;
        pendingButton = null;
        dialog.close();
      });
      dialog.querySelector("[data-confirm-ok]").addEventListener("click", function () {
        var form = pending;
        var button = pendingButton;
        pending = null;
        pendingButton = null;
        dialog.close();
        if (button) { button.dataset.confirmed = "1"; button.form.requestSubmit(button); return; }
        if (form) { form.dataset.confirmed = "1"; form.requestSubmit ? form.requestSubmit() : form.submit(); }
      });
      // A single button of a larger form (<button formaction=… data-confirm-button="…">).
      document.addEventListener("click", function (e) {
        var b = e.target.closest ? e.target.closest("button[data-confirm-button]") : null;
        if (!b || b.dataset.confirmed === "1") return;
        e.preventDefault();
        pendingButton = b;
        dialog.querySelector("[data-confirm-text]").textContent = b.getAttribute("data-confirm-button");
        dialog.showModal();
        dialog.querySelector("[data-confirm-cancel]").focus();
      }, true);
      document.addEventListener("submit", function (e) {
        var form = e.target;
        if (!form.matches || !form.matches("form[data-confirm]") || form.dataset.confirmed === "1") return;
        e.preventDefault();
        pending = form;
        dialog.querySelector("[data-confirm-text]").textContent = form.getAttribute("data-confirm");
        dialog.showModal();
        dialog.querySelector("[data-confirm-cancel]").focus();
      }, true);
    }

    // A toast disappears after a while; it stays readable for screen readers via role=status.
    document.querySelectorAll("[data-toast]").forEach(function (t) {
      setTimeout(function () { t.hidden = true; }, 6000);
      t.addEventListener("click", function () { t.hidden = true; });
    });

    // Copy buttons for one-time secrets.
    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        if (el && navigator.clipboard) {
          navigator.clipboard.writeText(el.textContent.trim()).then(function () { b.textContent = "已复制"; });
        }
      });
    });
  });
})();
