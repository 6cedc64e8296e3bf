/* The builder's enhancements. Every page works without this file: forms post and redirect as usual.
   Here: hide the field options a chosen type does not take, and reorder fields by drag and drop
   (the ↑ ↓ buttons stay as the keyboard way). Loaded as a static file; the CSP allows no inline script. */
(function () {
  "use strict";

  function typesOf(el) { return (el.getAttribute("data-types") || "").split(/\s+/); }

  function followType(form) {
    var select = form.querySelector("select[name=type]");
    var current = select ? select.value : form.getAttribute("data-type");
    if (!current) { return; }
    form.querySelectorAll("[data-types]").forEach(function (el) {
      // A box with an error stays visible, so its message is never hidden.
      el.hidden = typesOf(el).indexOf(current) < 0 && !el.querySelector(".b-errors");
    });
  }

  function setUpFieldForms() {
    document.querySelectorAll("form[data-field-form]").forEach(function (form) {
      followType(form);
      var select = form.querySelector("select[name=type]");
      if (select) { select.addEventListener("change", function () { followType(form); }); }
    });
  }

  function showError(table, message) {
    var box = document.createElement("div");
    box.className = "b-alert b-alert-bad";
    box.setAttribute("role", "alert");
    box.textContent = message;
    table.closest(".b-table-wrap").before(box);
  }

  function move(row, toIndex, table) {
    var token = row.querySelector("input[name=csrfmiddlewaretoken]");
    var body = new FormData();
    body.append("to_index", String(toIndex));
    if (token) { body.append("csrfmiddlewaretoken", token.value); }
    fetch(row.getAttribute("data-move-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": token ? token.value : ""}
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "The field could not be moved."); }
        window.location.reload();
      });
    }).catch(function (error) { showError(table, error.message); });
  }

  function setUpReorder(tbody) {
    var dragged = null;
    var rows = function () { return Array.prototype.slice.call(tbody.querySelectorAll("tr[data-move-url]")); };
    var clear = function () {
      rows().forEach(function (r) { r.classList.remove("b-drop-above", "b-drop-below"); });
    };
    rows().forEach(function (row) {
      var handle = row.querySelector(".b-handle");
      if (!handle) { return; }
      // Only the handle starts a drag, so text in the row can still be selected.
      handle.addEventListener("mousedown", function () { row.draggable = true; });
      row.addEventListener("dragstart", function (event) {
        dragged = row;
        row.classList.add("b-dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", row.getAttribute("data-field"));
      });
      row.addEventListener("dragend", function () {
        row.draggable = false;
        row.classList.remove("b-dragging");
        clear();
      });
      row.addEventListener("dragover", function (event) {
        if (!dragged || dragged === row) { return; }
        event.preventDefault();
        var box = row.getBoundingClientRect();
        var below = event.clientY > box.top + box.height / 2;
        clear();
        row.classList.add(below ? "b-drop-below" : "b-drop-above");
      });
      row.addEventListener("drop", function (event) {
        if (!dragged || dragged === row) { return; }
        event.preventDefault();
        var all = rows();
        var from = all.indexOf(dragged);
        var box = row.getBoundingClientRect();
        var to = all.indexOf(row) + (event.clientY > box.top + box.height / 2 ? 1 : 0);
        if (to > from) { to -= 1; }  // the dragged row leaves its place first
        clear();
        if (to !== from) { move(dragged, to, tbody.closest("table")); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpFieldForms();
    document.querySelectorAll("tbody[data-reorder]").forEach(setUpReorder);
  });
}());
