// A token or set-password link shown once (input.copy) is selected whole on click, ready to copy.
// Kept here, not in an onclick attribute: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    if (event.target instanceof HTMLInputElement && event.target.classList.contains("copy")) {
      event.target.select();
    }
  });
})();
