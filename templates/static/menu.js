// The header's menus (<details class="menu">): a click elsewhere, following a link or Escape
// closes them, so at most one is open and none stays open over the page.
(() => {
  const open = () => document.querySelectorAll("details.menu[open]");
  document.addEventListener("click", (event) => {
    for (const menu of open()) {
      if (!menu.contains(event.target) || event.target.closest(".menu-items a")) {
        menu.removeAttribute("open");
      }
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of open()) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    }
  });
})();
