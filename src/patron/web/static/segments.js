/* Segment builder: a live count. On every change the form is posted to /segments/count and the count (or
   the condition at fault) shown at once. Without this file the Count button does the same by a page load. */
(function () {
  "use strict";
  var form = document.getElementById("segment-builder");
  if (!form) { return; }
  var countEl = document.getElementById("segment-count");
  var box = countEl.closest(".count-box");
  var preview = document.getElementById("segment-preview");
  var timer = null;
  var sequence = 0;

  function clearRowErrors() {
    form.querySelectorAll(".condition-row .live-error").forEach(function (el) { el.remove(); });
    form.querySelectorAll(".condition-row.has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }

  function showPreview(members) {
    preview.textContent = "";
    if (!members || !members.length) { return; }
    var note = document.createElement("p");
    note.className = "muted small";
    note.textContent = "First members:";
    var list = document.createElement("ul");
    list.className = "plain-list small";
    members.forEach(function (m) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/customers/" + m.id;
      link.textContent = m.name || ("Customer " + m.id);
      item.appendChild(link);
      list.appendChild(item);
    });
    preview.appendChild(note);
    preview.appendChild(list);
  }

  function count() {
    var mine = ++sequence;
    box.classList.add("stale");
    fetch(form.getAttribute("data-count-url"), { method: "POST", body: new FormData(form), credentials: "same-origin",
                                                 headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== sequence) { return; }
        box.classList.remove("stale");
        clearRowErrors();
        if (data.error) {
          countEl.textContent = "—";
          var rows = form.querySelectorAll("[data-row]");
          var row = rows[data.row] || null;
          var message = document.createElement("p");
          message.className = "field-error live-error";
          message.textContent = data.error;
          if (row) { row.classList.add("has-error"); row.appendChild(message); } else { preview.textContent = data.error; }
          return;
        }
        countEl.textContent = data.count === null ? "—" : Number(data.count).toLocaleString();
        showPreview(data.preview);
      })
      .catch(function () { box.classList.remove("stale"); });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(count, 250);
  }

  /* Offer only the operators the typed field takes (the server checks them anyway). */
  var catalogue = {};
  var data = document.getElementById("segment-field-ops");
  if (data) {
    JSON.parse(data.textContent).forEach(function (f) { catalogue[f.field] = f.ops; });
  }
  function fitOperators(row) {
    var field = row.querySelector("input[name=field]");
    var select = row.querySelector("select[name=op]");
    var ops = catalogue[field.value.trim()];
    Array.prototype.forEach.call(select.options, function (option) {
      option.disabled = !!ops && ops.indexOf(option.value) < 0;
    });
    if (ops && ops.indexOf(select.value) < 0) { select.value = ops[0]; }
  }
  form.querySelectorAll("[data-row]").forEach(fitOperators);
  form.addEventListener("input", function (event) {
    if (event.target.matches("input[name=field]")) { fitOperators(event.target.closest("[data-row]")); }
  });

  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
