// Child rows in forms: "Add a row" clones the template row (its inputs named <prefix>-__prefix__-<field>)
// with the next free number and raises <prefix>-TOTAL. Without JavaScript the form offers a few empty rows.
(function () {
  "use strict";
  function setup(set) {
    var add = set.querySelector("[data-line-add]");
    var template = set.querySelector("template[data-line-template]");
    var total = set.querySelector("[data-lines-total]");
    if (!add || !template || !total || set.dataset.linesReady) { return; }
    set.dataset.linesReady = "1";
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = set.querySelectorAll("[data-line]:not(.removed)").length;
      if (rows >= Number(set.dataset.max || 100)) { return; }
      var n = Number(total.value);
      var html = template.innerHTML.replace(/__prefix__/g, String(n));
      add.insertAdjacentHTML("beforebegin", html);
      total.value = String(n + 1);
      var added = add.previousElementSibling;
      var first = added && added.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    });
  }
  function init() { document.querySelectorAll("[data-lines]").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
