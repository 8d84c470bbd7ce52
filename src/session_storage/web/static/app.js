// Scripts only fold trees: every page reads fine without them. Nothing here builds
// markup from data; the buttons are made with createElement and textContent.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".tree-tools").forEach(function (tools) {
    var scope = tools.parentElement;
    [["Unfold all", true], ["Fold all", false]].forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = pair[0];
      button.addEventListener("click", function () {
        scope.querySelectorAll("details").forEach(function (d) { d.open = pair[1]; });
      });
      tools.appendChild(button);
    });
  });
});
