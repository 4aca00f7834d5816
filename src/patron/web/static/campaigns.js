/* Campaign pages: the builder's live audience count (asked of Patron's JSON API as the audience fields
   and channels change) and a launching campaign's progress. Both pages work without this file: the
   builder's form posts as ever and the campaign page shows the count as it was when rendered. */
(function () {
  "use strict";
  var WAIT_MS = 300, POLL_MS = 2000;

  function value(form, name) {
    var field = form.elements.namedItem(name);
    return field && field.value ? field.value.trim() : "";
  }

  /* The audience and channels as /api/v1/campaigns/audience/count takes them. */
  function request(form) {
    var kind = value(form, "audience.kind") || "all";
    var audience = { kind: kind };
    if (kind === "filter") {
      var tags = value(form, "audience.filter.tags").split(",").map(function (t) { return t.trim(); })
        .filter(function (t) { return t; });
      audience.filter = { tags: tags };
      var country = value(form, "audience.filter.country");
      if (country) { audience.filter.country = country; }
    } else if (kind === "segment") {
      audience.segment_id = parseInt(value(form, "audience.segment_id"), 10) || null;
    }
    var channels = Array.prototype.filter.call(form.querySelectorAll('input[name="channels"]'), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
    return { audience: audience, channels: channels };
  }

  function liveCount(output) {
    var form = output.closest("form");
    var timer = null, asked = 0;
    function show(text, failed) {
      output.hidden = false;
      output.textContent = text;
      output.classList.toggle("field-error", Boolean(failed));
    }
    function ask() {
      var body = request(form), mine = ++asked;
      if (!body.channels.length) { show("Choose at least one channel to count who can be reached.", true); return; }
      window.Patron.api("POST", "/api/v1/campaigns/audience/count", body).then(function (count) {
        if (mine !== asked) { return; }
        output.setAttribute("data-total", count.total);
        output.setAttribute("data-reachable", count.reachable);
        show(count.total.toLocaleString("en-US") + " in the audience, " + count.reachable.toLocaleString("en-US") +
          " reachable on the chosen channels.", false);
      }, function (error) {
        if (mine === asked) { show(error.message, true); }
      });
    }
    function later(event) {
      var name = event.target && event.target.name;
      if (!name || (name.indexOf("audience.") !== 0 && name !== "channels")) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, WAIT_MS);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    ask();
  }

  /* While a campaign is launching: the customers taken in so far, and the page again once it is done. */
  function launchProgress(node) {
    var id = node.getAttribute("data-launch-progress");
    function poll() {
      fetch("/api/v1/campaigns/" + id, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (campaign) {
          if (campaign.status !== "launching") { window.location.reload(); return; }
          node.querySelector("[data-progress-count]").textContent = campaign.launch_progress.toLocaleString("en-US");
          window.setTimeout(poll, POLL_MS);
        }, function () { window.setTimeout(poll, POLL_MS * 5); });
    }
    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-audience-count]"), liveCount);
    Array.prototype.forEach.call(document.querySelectorAll("[data-launch-progress]"), launchProgress);
  });
})();
