/* The branding preview follows what is typed: each valid value is set on the preview frame's custom
   properties (the cabinet stylesheet reads --primary, --accent, --font and --radius), the logo on its
   image. The colour pickers and the text boxes stay in step. Without this script "Preview without
   saving" shows the typed values. */
(function () {
  "use strict";
  var form = document.getElementById("branding-form");
  var frame = document.getElementById("branding-frame");
  if (!form || !frame) { return; }
  var shapes = {
    "--primary": /^#[0-9a-fA-F]{6}$/, "--accent": /^#[0-9a-fA-F]{6}$/,
    "--font": /^[A-Za-z0-9 ,'\-]{1,200}$/, "--radius": /^[0-9]{1,3}(px|rem|em)$/, "logo": /^\/[A-Za-z0-9._~\/\-]{0,300}$/
  };
  var button = document.getElementById("b-preview-button");
  if (button) { button.hidden = true; }

  function apply(input) {
    var doc = frame.contentDocument;
    if (!doc || !doc.documentElement) { return; }
    var name = input.getAttribute("data-var");
    var value = input.value.trim() || input.getAttribute("placeholder") || "";
    var ok = shapes[name].test(value);
    input.setAttribute("aria-invalid", ok || !input.value.trim() ? "false" : "true");
    if (name === "logo") {
      var img = doc.getElementById("pv-logo");
      if (!img) { return; }
      if (ok && input.value.trim()) { img.src = value; img.hidden = false; } else { img.hidden = true; }
      return;
    }
    if (ok) { doc.documentElement.style.setProperty(name, value); }
  }

  function applyAll() {
    form.querySelectorAll("input[data-var]").forEach(apply);
  }

  form.querySelectorAll("input[data-var]").forEach(function (input) {
    input.addEventListener("input", function () {
      apply(input);
      var picker = document.querySelector('input[type=color][data-for="' + input.id + '"]');
      if (picker && shapes["--primary"].test(input.value.trim())) { picker.value = input.value.trim().toLowerCase(); }
    });
  });
  form.querySelectorAll("input[type=color][data-for]").forEach(function (picker) {
    var text = document.getElementById(picker.getAttribute("data-for"));
    if (!text || text.readOnly) { return; }
    picker.hidden = false;
    picker.addEventListener("input", function () {
      text.value = picker.value;
      apply(text);
    });
  });
  frame.addEventListener("load", applyAll);
  if (frame.contentDocument && frame.contentDocument.readyState === "complete") { applyAll(); }
})();
