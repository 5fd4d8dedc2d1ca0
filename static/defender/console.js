// Behaviour shared by every console page: navigation, drawer, confirmation dialog, toasts.
(function () {
  "use strict";
  const body = document.body;

  // Collapsible left navigation, remembered per browser.
  const toggle = document.querySelector("[data-nav-toggle]");
  function setCollapsed(collapsed) {
    body.classList.toggle("nav-collapsed", collapsed);
    if (toggle) {
      toggle.setAttribute("aria-expanded", String(!collapsed));
      toggle.setAttribute("aria-label", collapsed ? "Expand navigation" : "Collapse navigation");
    }
  }
  setCollapsed(localStorage.getItem("nav-collapsed") === "1");
  if (toggle) {
    toggle.addEventListener("click", function () {
      const collapsed = !body.classList.contains("nav-collapsed");
      localStorage.setItem("nav-collapsed", collapsed ? "1" : "0");
      setCollapsed(collapsed);
    });
  }

  // Drawer: any element with hx-target="#drawer-content" opens it once its content arrives.
  const drawer = document.getElementById("drawer");
  const backdrop = document.querySelector(".drawer-backdrop");
  let drawerOpener = null;
  function openDrawer() {
    if (!drawer) return;
    drawerOpener = document.activeElement;
    drawer.hidden = false;
    backdrop.hidden = false;
    requestAnimationFrame(function () { drawer.classList.add("open"); });
    const heading = drawer.querySelector("h2");
    if (heading) { heading.tabIndex = -1; heading.focus(); }
  }
  function closeDrawer() {
    if (!drawer || drawer.hidden) return;
    drawer.classList.remove("open");
    backdrop.hidden = true;
    setTimeout(function () { drawer.hidden = true; }, 200);
    if (drawerOpener) drawerOpener.focus();
  }
  window.consoleDrawer = { open: openDrawer, close: closeDrawer };
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "drawer-content") openDrawer();
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-drawer-close]")) closeDrawer();
    const close = event.target.closest("[data-toast-close]");
    if (close) close.closest(".toast").remove();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeDrawer();
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-row-open]")) {
      event.target.click();
    }
  });

  // Toasts: dismiss by themselves; the server can raise one with HX-Trigger: {"toast": {...}}.
  function showToast(message, level) {
    const container = document.getElementById("toasts");
    const toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "success");
    const text = document.createElement("span");
    text.textContent = message;
    toast.appendChild(text);
    container.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 6000);
  }
  document.querySelectorAll(".toast").forEach(function (toast) {
    setTimeout(function () { toast.remove(); }, 8000);
  });
  document.body.addEventListener("toast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  // Copy buttons: data-copy="#element-with-the-text".
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.textContent;
    const done = function () { showToast("Copied to the clipboard.", "success"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });

  // Menus built on <details> close when the user clicks elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.row-menu[open], details.user-menu[open], details.command-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Confirmation dialog for any form with data-confirm="What will happen".
  const dialog = document.getElementById("confirm-dialog");
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed === "1" || !dialog) return;
    event.preventDefault();
    document.getElementById("confirm-message").textContent = form.dataset.confirm;
    document.getElementById("confirm-title").textContent = form.dataset.confirmTitle || "Are you sure?";
    document.getElementById("confirm-accept").textContent = form.dataset.confirmLabel || "Confirm";
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue === "confirm") {
        form.dataset.confirmed = "1";
        form.requestSubmit();
      }
    });
  }, true);

  // Policy editor: filter rows (added from a <template>, removed), value hints per field, and the
  // repeated-activity fields shown only for repeated activity.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-filter-add]")) {
      const template = document.getElementById("filter-row-template");
      const rows = document.querySelector("[data-filter-rows]");
      if (!template || !rows) return;
      const row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      row.querySelector("[data-filter-field]").focus();
    }
    const remove = event.target.closest("[data-filter-remove]");
    if (remove) remove.closest("[data-filter-row]").remove();
  });
  document.addEventListener("change", function (event) {
    const target = event.target;
    const row = target.closest && target.closest("[data-filter-row]");
    if (row) {
      const values = row.querySelector("[data-filter-values]");
      if (target.matches("[data-filter-field]")) {
        if (target.value) values.setAttribute("list", "hints-" + target.value);
        else values.removeAttribute("list");
      }
      if (target.matches("[data-filter-operator]")) {
        const none = target.value === "is_set" || target.value === "is_not_set";
        values.readOnly = none;
        if (none) values.value = "";
        values.placeholder = none ? "No value needed" : "Values, separated by commas";
      }
    }
    if (target.name === "match_mode") {
      document.querySelectorAll("[data-repeat-fields]").forEach(function (fields) {
        fields.hidden = target.value !== "repeated";
      });
    }
  });
  // Alert page and queue: <dialog>s opened by data-dialog-open="id", closed by data-dialog-close.
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-dialog-open]");
    if (opener) {
      const target = document.getElementById(opener.dataset.dialogOpen);
      if (target) target.showModal();
    }
    const closer = event.target.closest("[data-dialog-close]");
    if (closer) closer.closest("dialog").close();
  });

  // Alerts queue: bulk selection. Forms marked data-bulk post the checked rows' ids as "alerts".
  function bulkChecked() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-bulk-select]:checked"));
  }
  function bulkRefresh() {
    const checked = bulkChecked();
    const all = document.querySelectorAll("[data-bulk-select]");
    document.querySelectorAll("[data-bulk-command]").forEach(function (command) { command.disabled = !checked.length; });
    document.querySelectorAll("[data-bulk-select]").forEach(function (box) {
      box.closest("tr").classList.toggle("selected", box.checked);
    });
    const label = checked.length === 1 ? "1 alert" : checked.length + " alerts";
    document.querySelectorAll("[data-bulk-count]").forEach(function (count) {
      count.textContent = checked.length ? label + " selected" : "";
    });
    document.querySelectorAll("[data-bulk-count-text]").forEach(function (count) { count.textContent = label; });
    const selectAll = document.querySelector("[data-bulk-all]");
    if (selectAll) {
      selectAll.checked = checked.length > 0 && checked.length === all.length;
      selectAll.indeterminate = checked.length > 0 && checked.length < all.length;
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-bulk-all]")) {
      document.querySelectorAll("[data-bulk-select]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("[data-bulk-all], [data-bulk-select]")) bulkRefresh();
  });
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("[data-bulk]")) return;
    form.querySelectorAll("input[data-bulk-id]").forEach(function (input) { input.remove(); });
    bulkChecked().forEach(function (box) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "alerts";
      input.value = box.value;
      input.dataset.bulkId = "1";
      form.appendChild(input);
    });
  });
  if (document.querySelector("[data-bulk-select]")) bulkRefresh();

  // Alerts queue: j / k move the focused row, Enter opens it (outside text fields).
  document.addEventListener("keydown", function (event) {
    const table = document.querySelector("[data-row-nav]");
    if (!table || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select, dialog, [contenteditable]")) return;
    const rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-href]"));
    if (!rows.length) return;
    const current = rows.indexOf(document.activeElement.closest ? document.activeElement.closest("tr") : null);
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      let next = event.key === "j" ? current + 1 : current - 1;
      if (current === -1) next = 0;
      next = Math.max(0, Math.min(rows.length - 1, next));
      rows.forEach(function (row) { row.classList.remove("focused"); });
      rows[next].classList.add("focused");
      rows[next].focus();
    } else if (event.key === "Enter" && current !== -1 && event.target === rows[current]) {
      window.location.href = rows[current].dataset.href;
    }
  });
})();
