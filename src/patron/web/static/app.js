/* Patron web app: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* Call Patron's JSON API with the session cookie and the CSRF header. */
  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          var message = (data && (data.detail || data.title)) || ("Request failed (" + response.status + ")");
          throw new Error(message);
        }
        return data;
      });
    });
  }
  window.Patron = { api: api };

  document.addEventListener("click", function (event) {
    var back = event.target.closest("[data-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          copy.textContent = "Copied";
        });
      }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches("[data-autosubmit]") && field.form) {
      field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
    }
  });

  /* --- pipeline board: drag a deal card to another stage ------------------------------------------ */
  function formatMoney(amount, currency) {
    var signs = { EUR: "€", USD: "$", GBP: "£", JPY: "¥" };
    var text = Math.round(amount).toLocaleString("en-US");
    return signs[currency] ? signs[currency] + text : text + " " + currency;
  }

  /* Stage totals live in data attributes (the server's figures); a move shifts one card's value. */
  function shiftTotals(board, fromStage, toStage, card) {
    var value = parseFloat(card.getAttribute("data-counted-value") || "0");
    fromStage.setAttribute("data-total", parseFloat(fromStage.getAttribute("data-total") || "0") - value);
    fromStage.setAttribute("data-count", parseInt(fromStage.getAttribute("data-count") || "0", 10) - 1);
    toStage.setAttribute("data-total", parseFloat(toStage.getAttribute("data-total") || "0") + value);
    toStage.setAttribute("data-count", parseInt(toStage.getAttribute("data-count") || "0", 10) + 1);
    renderTotals(board);
  }

  function renderTotals(board) {
    var currency = board.getAttribute("data-currency") || "EUR";
    var sums = { open: 0, weighted: 0, won: 0, openCount: 0, wonCount: 0, lostCount: 0 };
    board.querySelectorAll("[data-stage-id]").forEach(function (stage) {
      var total = parseFloat(stage.getAttribute("data-total") || "0");
      var count = parseInt(stage.getAttribute("data-count") || "0", 10);
      var probability = parseFloat(stage.getAttribute("data-probability") || "0");
      var kind = stage.getAttribute("data-kind");
      var weightedValue = total * probability / 100;
      stage.querySelector("[data-show=count]").textContent = count;
      stage.querySelector("[data-show=total]").textContent = formatMoney(total, currency);
      var weighted = stage.querySelector("[data-show=weighted]");
      if (weighted) { weighted.textContent = formatMoney(weightedValue, currency); }
      if (kind === "open") { sums.open += total; sums.weighted += weightedValue; sums.openCount += count; }
      if (kind === "won") { sums.won += total; sums.wonCount += count; }
      if (kind === "lost") { sums.lostCount += count; }
    });
    var show = function (name, text) {
      var node = document.querySelector("[data-board-total=" + name + "]");
      if (node) { node.textContent = text; }
    };
    show("open", formatMoney(sums.open, currency));
    show("weighted", formatMoney(sums.weighted, currency));
    show("won", formatMoney(sums.won, currency));
    show("open-count", sums.openCount);
    show("won-count", sums.wonCount);
    show("lost-count", sums.lostCount);
  }

  function setupBoard(board) {
    if (board.getAttribute("data-movable") !== "true") { return; }
    var status = document.querySelector("[data-board-status]");
    var dragged = null;
    function say(text, kind) {
      if (status) { status.textContent = text; status.className = "board-status " + (kind || "muted"); }
    }
    board.querySelectorAll(".deal-card").forEach(function (card) {
      card.setAttribute("draggable", "true");
      card.addEventListener("dragstart", function (event) {
        dragged = card;
        card.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", card.getAttribute("data-deal-id"));
      });
      card.addEventListener("dragend", function () {
        card.classList.remove("dragging");
        dragged = null;
      });
    });
    board.querySelectorAll(".stage-cards").forEach(function (zone) {
      zone.addEventListener("dragover", function (event) {
        if (!dragged) { return; }
        event.preventDefault();
        zone.classList.add("drop-target");
      });
      zone.addEventListener("dragleave", function () { zone.classList.remove("drop-target"); });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        zone.classList.remove("drop-target");
        var card = dragged;
        if (!card) { return; }
        var stage = zone.closest("[data-stage-id]");
        var from = card.parentElement;
        if (from === zone) { return; }
        var fromStage = from.closest("[data-stage-id]");
        var stageId = parseInt(stage.getAttribute("data-stage-id"), 10);
        var dealId = card.getAttribute("data-deal-id");
        zone.appendChild(card);
        shiftTotals(board, fromStage, stage, card);
        say("Moving “" + card.getAttribute("data-title") + "”…");
        api("POST", "/api/v1/deals/" + dealId + "/move", { stage_id: stageId }).then(function () {
          var select = card.querySelector("select[name=stage_id]");
          if (select) { select.value = String(stageId); }
          say("Moved “" + card.getAttribute("data-title") + "” to " + stage.getAttribute("data-stage-name") + ".", "ok");
        }).catch(function (error) {
          from.appendChild(card);
          shiftTotals(board, stage, fromStage, card);
          say("Could not move the deal: " + error.message, "error");
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-board]").forEach(setupBoard);
  });
})();
