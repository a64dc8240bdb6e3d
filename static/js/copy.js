// Copy buttons (the API tokens page's new token): a button with data-copy-from="<input id>" copies that input's
// value and says so in data-copy-status="<element id>". The clipboard API needs a secure context (https, or this
// machine) and the person's permission; where it is missing or refused, the text is selected instead and the
// status says to press Ctrl+C. A static file, because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function say(status, words) {
    if (!status) return;
    // Emptied first, so a second "Copied" after a second click is announced again.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = words; }, 50);
  }

  function selectForCopy(field, status) {
    field.focus();
    field.select();
    say(status, "Selected: press Ctrl+C (⌘C on a Mac) to copy it.");
  }

  document.querySelectorAll("button[data-copy-from]").forEach(function (button) {
    const field = document.getElementById(button.dataset.copyFrom);
    const status = document.getElementById(button.dataset.copyStatus || "");
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") {
        selectForCopy(field, status);
        return;
      }
      navigator.clipboard.writeText(field.value).then(
        function () {
          button.classList.add("is-copied");
          say(status, "Copied. Paste it where your script keeps its secrets.");
        },
        function () { selectForCopy(field, status); }
      );
    });
  });
})();
