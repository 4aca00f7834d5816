/* The analysis page's path helper: tick predictor constructs, pick an outcome, and append the line
   "outcome ~ a + b" to the model text. The textarea stays the one source of the model. */
(function () {
  "use strict";

  function setup(helper) {
    var form = helper.closest("form");
    var model = form && form.querySelector("[data-model-text]");
    if (!model) { return; }
    helper.hidden = false;
    var error = helper.querySelector("[data-helper-error]");
    helper.querySelector("[data-add-path]").addEventListener("click", function () {
      var outcome = helper.querySelector("[data-outcome]").value;
      var predictors = [];
      helper.querySelectorAll("[data-predictor]").forEach(function (box) {
        if (box.checked && box.value !== outcome) { predictors.push(box.value); }
      });
      if (!predictors.length) {
        error.textContent = "Tick at least one predictor other than the outcome.";
        error.hidden = false;
        return;
      }
      error.hidden = true;
      var line = outcome + " ~ " + predictors.join(" + ");
      var text = model.value.replace(/\s+$/, "");
      model.value = (text ? text + "\n" : "") + line + "\n";
      model.dispatchEvent(new Event("input", { bubbles: true }));
      helper.querySelectorAll("[data-predictor]").forEach(function (box) { box.checked = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-path-helper]").forEach(setup);
  });
})();
