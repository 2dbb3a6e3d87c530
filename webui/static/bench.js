// natsched benchmark page: start the quick benchmark and follow its progress.
"use strict";
(function () {
  function labels(box, name) {
    try {
      return JSON.parse(box.dataset[name] || "{}");
    } catch (e) {
      return {};
    }
  }

  function show(box, job) {
    const phases = labels(box, "phases");
    const states = labels(box, "states");
    const bar = box.querySelector(".progress > span");
    if (bar) bar.style.width = Math.round(100 * (job.progress || 0)) + "%";
    const msg = box.querySelector("[data-msg]");
    if (!msg) return;
    let text = states[job.state] || job.state || "";
    if (job.message) text += " · " + (phases[job.message] || job.message);
    if (job.state !== "failed" && job.state !== "done") {
      text += " (" + Math.round(100 * (job.progress || 0)) + "%)";
    }
    msg.textContent = text;
    msg.classList.toggle("late", job.state === "failed");
  }

  async function follow(box, url, button) {
    box.hidden = false;
    if (button) button.disabled = true;
    try {
      const job = await window.natsched.pollJob(url, (j) => show(box, j), 1000);
      if (job.state === "done") {
        window.location.reload();
        return;
      }
    } catch (e) {
      show(box, { state: "failed", message: e.message, progress: 0 });
    }
    if (button) button.disabled = false;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("bench-quick-form");
    const box = document.getElementById("bench-quick-job");
    if (!form || !box || !window.natsched) return;
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (button) button.disabled = true;
      try {
        const started = await window.natsched.api(form.action, {
          method: "POST",
          body: new FormData(form),
        });
        follow(box, started.poll, button);
      } catch (e) {
        box.hidden = false;
        show(box, { state: "failed", message: e.message, progress: 0 });
        if (button) button.disabled = false;
      }
    });
    if (box.dataset.poll) follow(box, box.dataset.poll, button);
  });
})();
