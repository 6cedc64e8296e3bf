/* Menus: drag an item to a new place, or focus it and press Alt+ArrowUp / Alt+ArrowDown; the arrow
   buttons move it too. Each change posts the menu's whole order (the same endpoint the buttons use
   without JavaScript) and says in the status line whether it was saved. */
(function () {
  "use strict";
  var form = document.getElementById("menu-order-form");
  var status = document.getElementById("menu-status");
  if (!form) { return; }
  var dragged = null;

  function items(list) {
    return Array.prototype.filter.call(list.children, function (li) { return li.querySelector(".m-item"); });
  }
  function itemOf(li) { return li.querySelector(":scope > .m-item"); }
  function title(li) { return itemOf(li).querySelector(".m-title").firstChild.textContent.trim(); }

  function refresh(list) {
    var all = items(list);
    all.forEach(function (li, i) {
      var up = li.querySelector(':scope > .m-item button[value$=":up"]');
      var down = li.querySelector(':scope > .m-item button[value$=":down"]');
      if (up) { up.disabled = i === 0; }
      if (down) { down.disabled = i === all.length - 1; }
    });
  }

  function save(list, moved) {
    var names = items(list).map(function (li) { return itemOf(li).getAttribute("data-page"); });
    var data = new FormData(form);
    data.set("place", list.getAttribute("data-menu"));
    data.set("parent", list.getAttribute("data-parent") || "");
    data.set("pages", names.join(","));
    status.textContent = "Saving…";
    fetch(form.action, { method: "POST", body: data, headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (result) {
        if (result[0]) {
          status.textContent = (moved ? "“" + title(moved) + "” moved to place " + (items(list).indexOf(moved) + 1) + ". " : "") + "Order saved in the draft.";
        } else {
          var errors = result[1].errors || {};
          var first = Object.keys(errors).map(function (k) { return errors[k].join(" "); }).join(" ");
          status.textContent = "Not saved: " + (first || "the order was refused") + " Reloading…";
          window.setTimeout(function () { window.location.reload(); }, 1500);
        }
      })
      .catch(function () { status.textContent = "Not saved: the server could not be reached."; });
  }

  function move(li, step) {
    var list = li.parentNode;
    var all = items(list);
    var i = all.indexOf(li);
    var j = i + step;
    if (j < 0 || j >= all.length) { return; }
    if (step < 0) { list.insertBefore(li, all[j]); } else { list.insertBefore(li, all[j].nextSibling); }
    refresh(list);
    itemOf(li).focus();
    save(list, li);
  }

  document.querySelectorAll("ol.m-menu").forEach(function (list) {
    items(list).forEach(function (li) {
      var item = itemOf(li);
      item.setAttribute("draggable", "true");
      item.setAttribute("aria-keyshortcuts", "Alt+ArrowUp Alt+ArrowDown");
      item.addEventListener("keydown", function (event) {
        if (event.target !== item || !event.altKey) { return; }
        if (event.key === "ArrowUp") { event.preventDefault(); move(li, -1); }
        if (event.key === "ArrowDown") { event.preventDefault(); move(li, 1); }
      });
      item.querySelectorAll(':scope > .m-moves button[name="move"]').forEach(function (button) {
        button.addEventListener("click", function (event) {
          event.preventDefault();
          move(li, /:up$/.test(button.value) ? -1 : 1);
        });
      });
      item.addEventListener("dragstart", function (event) {
        event.stopPropagation();
        dragged = li;
        item.classList.add("m-dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", item.getAttribute("data-page"));
      });
      item.addEventListener("dragend", function () {
        item.classList.remove("m-dragging");
        list.querySelectorAll(".m-over").forEach(function (n) { n.classList.remove("m-over"); });
        dragged = null;
      });
      item.addEventListener("dragover", function (event) {
        if (!dragged || dragged.parentNode !== list || dragged === li) { return; }
        event.preventDefault();
        item.classList.add("m-over");
      });
      item.addEventListener("dragleave", function () { item.classList.remove("m-over"); });
      item.addEventListener("drop", function (event) {
        if (!dragged || dragged.parentNode !== list || dragged === li) { return; }
        event.preventDefault();
        event.stopPropagation();
        item.classList.remove("m-over");
        var all = items(list);
        var moved = dragged;
        if (all.indexOf(moved) < all.indexOf(li)) { list.insertBefore(moved, li.nextSibling); } else { list.insertBefore(moved, li); }
        refresh(list);
        save(list, moved);
      });
    });
  });
})();
