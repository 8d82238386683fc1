// aiTopUp dashboard: copy buttons, confirmations, live updates (server-sent events).
// Served by the gateway itself; the page's CSP allows no inline script.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent.trim();
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
  } else {
    selectText(source);
  }
});

function selectText(node) {
  var range = document.createRange();
  range.selectNodeContents(node);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// Regions marked data-live="name" are replaced by the server's fragments of the same name.
// A stream refused (too many open: 429) or lost for good is opened again after a pause; one that
// merely ended is reopened by the EventSource itself.
(function () {
  var regions = document.querySelectorAll("[data-live]");
  if (!regions.length || !window.EventSource) return;
  var stream = null;
  var gone = false;
  function open() {
    if (gone) return;
    stream = new EventSource("/dashboard/live");
    stream.addEventListener("update", function (event) {
      var fragments = JSON.parse(event.data);
      regions.forEach(function (region) {
        var html = fragments[region.getAttribute("data-live")];
        if (typeof html === "string" && region.innerHTML !== html) region.innerHTML = html;
      });
      document.body.setAttribute("data-live-at", String(Date.now()));
    });
    stream.addEventListener("signed-out", function () {
      gone = true;
      stream.close();
      window.location.assign("/dashboard/sign-in");
    });
    stream.addEventListener("error", function () {
      if (stream.readyState === EventSource.CLOSED) {
        window.setTimeout(open, 20000 + Math.random() * 20000);
      }
    });
  }
  open();
  window.addEventListener("pagehide", function () {
    gone = true;
    if (stream) stream.close();
  });
})();
