/* The builder's enhancements. Every page works without this file: forms post and redirect as usual.
   Here: hide the field options a chosen type does not take, reorder fields by drag and drop (the ↑ ↓
   buttons stay as the keyboard way), and give the YAML editor line numbers and problems that move the
   cursor to their line (without this file the numbered listing under the editor serves). Loaded as a static file; the CSP allows no inline script. */
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


  /* --- the YAML editor ------------------------------------------------------------------------ */

  function px(value) { return parseFloat(value) || 0; }

  function lineStart(text, line) {
    var at = 0;
    for (var i = 1; i < line; i++) {
      var next = text.indexOf("\n", at);
      if (next < 0) { return text.length; }
      at = next + 1;
    }
    return at;
  }

  function setUpEditor(area) {
    var wrap = document.createElement("div");
    var gutter = document.createElement("div");
    var numbers = document.createElement("div");  // out of the flow, so the numbers never stretch the editor
    wrap.className = "b-editor";
    gutter.className = "b-gutter";
    numbers.className = "b-gutter-rows";
    gutter.appendChild(numbers);
    gutter.setAttribute("aria-hidden", "true");  // the numbers are for the eye; the listing below reads aloud
    area.parentNode.insertBefore(wrap, area);
    wrap.appendChild(gutter);
    wrap.appendChild(area);
    var style = window.getComputedStyle(area);
    var lineHeight = px(style.lineHeight) || 1.45 * px(style.fontSize);
    // The gutter's rows must sit exactly beside the textarea's lines: same font, line height and top offset.
    gutter.style.fontSize = style.fontSize;
    gutter.style.lineHeight = lineHeight + "px";
    numbers.style.paddingTop = style.paddingTop;
    var bad = (area.getAttribute("data-problem-lines") || "").split(/\s+/).filter(Boolean);
    var count = 0;
    var here = 0;

    function render() {
      var lines = area.value.split("\n").length;
      if (lines === count) { return; }
      count = lines;
      var frag = document.createDocumentFragment();
      for (var i = 1; i <= lines; i++) {
        var row = document.createElement("div");
        row.textContent = String(i);
        if (bad.indexOf(String(i)) >= 0) { row.className = "b-gutter-bad"; }
        frag.appendChild(row);
      }
      numbers.textContent = "";
      numbers.appendChild(frag);
      gutter.style.width = (String(lines).length + 2) + "ch";
      here = 0;
      mark();
    }

    function mark() {
      var line = area.value.slice(0, area.selectionStart).split("\n").length;
      if (line === here) { return; }
      var rows = numbers.children;
      if (here && rows[here - 1]) { rows[here - 1].classList.remove("b-gutter-here"); }
      if (rows[line - 1]) { rows[line - 1].classList.add("b-gutter-here"); }
      here = line;
    }

    function sync() { numbers.style.transform = "translateY(" + (-area.scrollTop) + "px)"; }

    area.addEventListener("input", function () { render(); mark(); });
    area.addEventListener("scroll", sync);
    ["click", "keyup", "select"].forEach(function (name) { area.addEventListener(name, mark); });
    render();

    area.goToLine = function (line, column) {
      var text = area.value;
      var start = lineStart(text, line);
      var end = text.indexOf("\n", start);
      if (end < 0) { end = text.length; }
      var at = Math.min(start + Math.max((column || 1) - 1, 0), end);
      area.focus({preventScroll: true});
      area.setSelectionRange(at, at);
      area.scrollTop = Math.max(0, (line - 1) * lineHeight - area.clientHeight / 3);
      sync();
      mark();
      wrap.scrollIntoView({block: "nearest"});
    };
  }

  function setUpProblemLinks(area) {
    var file = area.getAttribute("data-file");
    document.querySelectorAll("a.b-problem-place[data-line]").forEach(function (link) {
      if (link.getAttribute("data-file") !== file) { return; }  // another file: follow the link
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var line = parseInt(link.getAttribute("data-line"), 10);
        area.goToLine(line, parseInt(link.getAttribute("data-column"), 10) || 1);
        if (window.history.replaceState) { window.history.replaceState(null, "", "#L" + line); }
      });
    });
    var wanted = /^#L(\d+)$/.exec(window.location.hash);
    if (wanted) {  // arrived from a problem on another page; after the load, whose scroll to #L<n> takes focus
      window.addEventListener("load", function () {
        window.setTimeout(function () { area.goToLine(parseInt(wanted[1], 10), 1); }, 0);
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpFieldForms();
    document.querySelectorAll("tbody[data-reorder]").forEach(setUpReorder);
    document.querySelectorAll("textarea[data-gutter]").forEach(function (area) {
      setUpEditor(area);
      setUpProblemLinks(area);
    });
  });
}());
