/* The scope path builder without round trips: choosing a field takes the step at once (a ref goes on to
   its entity's fields, a user ref ends the path, a plain field asks for the value); "Back one step"
   shortens the path. Without this script the same form works through "Next step" posts. */
(function () {
  "use strict";
  var box = document.getElementById("scope-builder");
  var data = document.getElementById("scope-graph");
  if (!box || !data) { return; }
  var graph = JSON.parse(data.textContent);
  var start = box.getAttribute("data-entity");
  var pathInput = document.getElementById("scope-path");
  var crumbs = document.getElementById("scope-crumbs");
  var valueBox = document.getElementById("scope-value");
  var buttons = document.getElementById("scope-buttons");
  var first = crumbs.firstElementChild ? crumbs.firstElementChild.textContent : start;
  var next = document.getElementById("scope-next");
  if (next) { next.hidden = true; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* Follow the path from the start entity: the fields passed and the entity reached (null at the end). */
  function walk(parts) {
    var entity = start, passed = [];
    for (var i = 0; i < parts.length; i++) {
      var step = (graph[entity] || []).filter(function (c) { return c.name === parts[i]; })[0];
      if (!step) { return { passed: passed, entity: null, owner: entity }; }
      passed.push({ step: step, owner: entity });
      entity = step.kind === "ref" ? step.to : null;
      if (entity === null) { return { passed: passed, entity: null, owner: passed[passed.length - 1].owner }; }
    }
    return { passed: passed, entity: entity };
  }

  function parts() { return pathInput.value ? pathInput.value.split(".") : []; }

  function stepSelect(entity) {
    var wrap = el("div", { "class": "s-field", id: "scope-step-field" });
    wrap.appendChild(el("label", { "for": "scope-step" }, "Next step"));
    var select = el("select", { name: "step", id: "scope-step" });
    select.appendChild(el("option", { value: "" }, "— choose a field —"));
    (graph[entity] || []).forEach(function (c) {
      var suffix = c.kind === "ref" ? " → " + c.to + "…" : (c.kind === "user" ? " (a user)" : "");
      select.appendChild(el("option", { value: c.name }, c.label + suffix));
    });
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      pathInput.value = parts().concat([select.value]).join(".");
      render(true);
    });
    wrap.appendChild(select);
    return wrap;
  }

  function valueInput(owner, step) {
    var key = owner + "." + step.name;
    var type = graph.__types__[key];
    var wrap = el("div", { "class": "s-field" });
    if (type === "boolean") {
      wrap.appendChild(el("label", { "for": "scope-value-input" }, "equals"));
      var select = el("select", { name: "value", id: "scope-value-input" });
      [["", "—"], ["true", "yes"], ["false", "no"]].forEach(function (o) { select.appendChild(el("option", { value: o[0] }, o[1])); });
      wrap.appendChild(select);
    } else if (graph.__choices__[key]) {
      wrap.appendChild(el("span", { "class": "s-label" }, "is one of"));
      var checks = el("div", { "class": "s-checks" });
      graph.__choices__[key].forEach(function (c) {
        var label = el("label");
        label.appendChild(el("input", { type: "checkbox", name: "values", value: c[0] }));
        label.appendChild(document.createTextNode(" " + c[1]));
        checks.appendChild(label);
      });
      wrap.appendChild(checks);
    } else {
      wrap.appendChild(el("label", { "for": "scope-value-input" }, "equals"));
      wrap.appendChild(el("input", { type: "text", name: "value", id: "scope-value-input" }));
    }
    return wrap;
  }

  function render(focus) {
    var state = walk(parts());
    crumbs.textContent = "";
    crumbs.appendChild(el("li", {}, first));
    state.passed.forEach(function (p) { crumbs.appendChild(el("li", {}, p.step.label)); });
    var old = document.getElementById("scope-step-field");
    if (old) { old.remove(); }
    valueBox.textContent = "";
    var focusTarget = null;
    if (state.entity !== null) {
      var field = stepSelect(state.entity);
      valueBox.parentNode.insertBefore(field, valueBox);
      focusTarget = field.querySelector("select");
    } else {
      var last = state.passed[state.passed.length - 1];
      if (last && last.step.kind === "user") {
        valueBox.appendChild(el("p", {}, "= the signed-in user"));
      } else if (last) {
        valueBox.appendChild(valueInput(last.owner, last.step));
        focusTarget = valueBox.querySelector("input, select");
      }
    }
    var back = document.getElementById("scope-back");
    if (!back && parts().length) {
      back = el("button", { type: "submit", name: "do", value: "back", "class": "b-btn s-btn-small", id: "scope-back" }, "Back one step");
      back.addEventListener("click", goBack);
      buttons.insertBefore(back, document.getElementById("scope-add"));
    } else if (back && !parts().length) {
      back.remove();
    }
    if (focus && focusTarget) { focusTarget.focus(); }
  }

  function goBack(event) {
    event.preventDefault();
    pathInput.value = parts().slice(0, -1).join(".");
    render(true);
  }

  var back = document.getElementById("scope-back");
  if (back) { back.addEventListener("click", goBack); }
  var select = document.getElementById("scope-step");
  if (select) {
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      pathInput.value = parts().concat([select.value]).join(".");
      render(true);
    });
  }
})();
