// natsched lab pages: the print button of the printable day sheet.
"use strict";
document.addEventListener("click", (ev) => {
  const b = ev.target.closest && ev.target.closest("[data-print]");
  if (b) {
    ev.preventDefault();
    window.print();
  }
});
