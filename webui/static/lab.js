// natsched lab pages: the print button, the undo buttons' window, the scan field.
"use strict";
document.addEventListener("click", (ev) => {
  const b = ev.target.closest && ev.target.closest("[data-print]");
  if (b) {
    ev.preventDefault();
    window.print();
  }
});

// an undo offered until its window closes (seconds left, counted by the server's clock)
function armUndo(root) {
  for (const f of root.querySelectorAll("form[data-undo-until]")) {
    const left = Number(f.dataset.undoUntil);
    window.setTimeout(() => f.remove(), Math.max(0, left) * 1000);
  }
}

// a scanner types the code and Enter: the field keeps the focus, and with JS the
// page is swapped in place rather than reloaded, so the next scan is never lost
function scanField() {
  return document.getElementById("scan-code");
}

function refocus() {
  const f = scanField();
  if (f && !document.querySelector("dialog[open]")) f.focus();
}

async function submitScan(form) {
  const body = new FormData(form);
  const field = scanField();
  const code = field ? field.value : "";
  if (field) field.value = "";
  try {
    const r = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
    if (!r.ok) throw new Error(String(r.status));
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.querySelector("main");
    const here = document.querySelector("main");
    if (!fresh || !here) throw new Error("no main");
    here.replaceWith(fresh);
    history.replaceState(null, "", r.url);
    armUndo(fresh);
    refocus();
  } catch (e) {
    // the plain form POST, as without JS
    if (field) field.value = code;
    form.submit();
  }
}

document.addEventListener("submit", (ev) => {
  const form = ev.target.closest && ev.target.closest("form[data-scan]");
  if (!form || !window.fetch || !window.DOMParser) return;
  ev.preventDefault();
  submitScan(form);
});

document.addEventListener("DOMContentLoaded", () => {
  armUndo(document);
  refocus();
});
// a click elsewhere (not on a control) gives the focus back to the scan field
// (not on a touch screen, where each focus would raise the on-screen keyboard)
document.addEventListener("click", (ev) => {
  if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) return;
  if (!ev.target.closest("a, button, input, select, textarea, label, summary")) refocus();
});
