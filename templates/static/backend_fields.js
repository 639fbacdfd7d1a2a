// The host form: only the chosen backend's own settings are shown (each input says which
// backends read it). Without JavaScript every input shows, each labelled with its backends.
(function () {
  const choice = document.getElementById("backend");
  if (!choice) return;
  function show() {
    for (const box of document.querySelectorAll(".backend-setting")) {
      box.hidden = !box.dataset.backends.split(" ").includes(choice.value);
    }
  }
  choice.addEventListener("change", show);
  show();
})();
