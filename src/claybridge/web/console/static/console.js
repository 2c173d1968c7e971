// Claybridge console: the little script the pages need (written for this project).
"use strict";

// Live tail: a server-sent event stream of new rows, rendered (and escaped) by the server.
function setUpLiveTail() {
  const toggle = document.getElementById("live-toggle");
  const rows = document.getElementById("event-rows");
  const status = document.getElementById("live-status");
  if (!toggle || !rows) return;
  let source = null;
  function stop(message) {
    if (source) source.close();
    source = null;
    toggle.setAttribute("aria-pressed", "false");
    toggle.textContent = "Live tail: off";
    status.textContent = message || "";
  }
  function start() {
    source = new EventSource(toggle.dataset.stream);
    toggle.setAttribute("aria-pressed", "true");
    toggle.textContent = "Live tail: on (pause)";
    status.textContent = "Waiting for new rows…";
    source.addEventListener("event", (message) => {
      const empty = document.getElementById("no-events");
      if (empty) empty.remove();
      const holder = document.createElement("tbody");
      holder.innerHTML = JSON.parse(message.data).html;
      const row = holder.firstElementChild;
      row.classList.add("fresh");
      rows.prepend(row);
      status.textContent = "Live";
    });
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CLOSED) stop("The stream closed; turn it on again.");
    });
  }
  toggle.addEventListener("click", () => (source ? stop("Paused") : start()));
  if (new URLSearchParams(location.search).get("live") === "1") start();
}

// Copy buttons: data-copy names the element whose text is copied.
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.querySelector(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        const area = document.createElement("textarea");
        area.value = text;
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = label), 1500);
    });
  }
}

// The connect wizard: "I have stored it" reveals the Clay column setup and starts
// waiting for the first row, which turns the box green with Claybridge's answer.
function setUpWizard() {
  const stored = document.getElementById("stored-it");
  const waiting = document.getElementById("first-row");
  if (!stored || !waiting) return;
  let source = null;
  stored.addEventListener("change", () => {
    document.querySelector(stored.dataset.reveal).hidden = !stored.checked;
    waiting.hidden = !stored.checked;
    if (!stored.checked || source) return;
    source = new EventSource(waiting.dataset.stream);
    source.addEventListener("event", (message) => {
      const row = JSON.parse(message.data);
      source.close();
      waiting.classList.add("arrived");
      document.getElementById("first-row-title").textContent =
        row.status === "accepted" ? "Your first row arrived" : "Your first row arrived, and was refused";
      document.getElementById("first-row-status").textContent =
        `Claybridge answered ${row.status_code}; this is what the Clay cell shows:`;
      const answer = document.getElementById("first-row-answer");
      answer.textContent = JSON.stringify(row.answer, null, 2);
      answer.hidden = false;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpLiveTail();
  setUpCopyButtons();
  setUpWizard();
});
