// natsched: the little script the pages share. No framework, no other origin.
"use strict";
window.natsched = (function () {
  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  // fetch with the session cookie and the CSRF header; answers parsed JSON or throws
  async function api(url, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    opts.headers = Object.assign({ "X-CSRFToken": csrf(), Accept: "application/json" }, opts.headers);
    const r = await fetch(url, opts);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const msg = body.error ? body.error.message : r.statusText;
      throw new Error(msg);
    }
    return body;
  }
  // poll a job until it ends; onUpdate(job) on each answer
  async function pollJob(url, onUpdate, everyMs) {
    for (;;) {
      const job = await api(url);
      onUpdate(job);
      if (job.state === "done" || job.state === "failed") return job;
      await new Promise((res) => setTimeout(res, everyMs || 1000));
    }
  }
  // a progress element: <div class="progress"><span></span></div><span data-msg>
  function showJob(root, job) {
    const bar = root.querySelector(".progress > span");
    if (bar) bar.style.width = Math.round(100 * (job.progress || 0)) + "%";
    const msg = root.querySelector("[data-msg]");
    if (msg) msg.textContent = (job.state || "") + (job.message ? ": " + job.message : "");
  }
  // any <form data-job> posts by fetch, then shows the job's progress in [data-job-box]
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.matches || !form.matches("form[data-job]")) return;
    ev.preventDefault();
    const box = document.querySelector(form.dataset.job) || form;
    box.hidden = false;
    try {
      const started = await api(form.action, { method: "POST", body: new FormData(form) });
      const job = await pollJob(started.poll || started.url, (j) => showJob(box, j));
      if (job.state === "done" && form.dataset.reload !== undefined) window.location.reload();
    } catch (e) {
      showJob(box, { state: "failed", message: e.message, progress: 0 });
    }
  });
  // confirm buttons: <button data-confirm="text">
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest && ev.target.closest("[data-confirm]");
    if (b && !window.confirm(b.dataset.confirm)) ev.preventDefault();
  });
  return { api, pollJob, showJob, csrf };
})();
