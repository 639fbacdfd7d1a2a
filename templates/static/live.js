// Parts of a page marked data-live="name" refresh themselves while they show something under
// way (an element with class "pending" inside): the page is fetched again every few seconds
// and each such part replaced by its fresh copy, so forms elsewhere keep what was typed.
(function () {
  function pending() { return document.querySelector("[data-live] .pending"); }
  function refresh() {
    if (!pending()) return;
    fetch(location.href, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live]").forEach(function (part) {
            var twin = fresh.querySelector('[data-live="' + part.dataset.live + '"]');
            if (twin) part.innerHTML = twin.innerHTML;
          });
        }
        if (pending()) setTimeout(refresh, 3000);
      })
      .catch(function () { setTimeout(refresh, 10000); });
  }
  setTimeout(refresh, 3000);
})();
