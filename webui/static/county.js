// County upload: drag a file onto the drop zone; poll a background upload job.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-drop]").forEach((zone) => {
    const input = zone.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach((e) =>
      zone.addEventListener(e, (ev) => { ev.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((e) =>
      zone.addEventListener(e, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      if (ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        zone.closest("form").requestSubmit();
      }
    });
  });
  const box = document.getElementById("job");
  if (box && window.natsched) {
    window.natsched.pollJob(box.dataset.jobUrl, (j) => window.natsched.showJob(box, j))
      .then((j) => { if (j.state === "done") window.location.replace(window.location.pathname); });
  }
});
