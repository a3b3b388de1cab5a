// The archive list: "select all" ticks every analysis on the page.
(function () {
  "use strict";
  const all = document.getElementById("select-all");
  if (!all) return;
  const boxes = () => document.querySelectorAll("#bulk-form input[name=ids]");
  all.addEventListener("change", () => {
    for (const box of boxes()) box.checked = all.checked;
  });
})();
