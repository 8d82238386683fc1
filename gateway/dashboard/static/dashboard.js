// aiTopUp dashboard: copy buttons, confirmations, live updates (server-sent events).
// Served by the gateway itself; the page's CSP allows no inline script.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent.trim();
  // A button may say what it copies beside its word ("Copy the send command"): only the word
  // (its [data-copy-state], else the whole text) turns to "Copied" for a moment.
  var state = button.querySelector("[data-copy-state]") || button;
  var done = function () {
    state.textContent = "Copied";
    button.setAttribute("data-copied", "");
    setTimeout(function () {
      state.textContent = "Copy";
      button.removeAttribute("data-copied");
    }, 2000);
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
// Regions marked data-live-page="name" (every other live page) are replaced by the same regions
// of this page fetched again, once the stream says something changed: the page's own render,
// so an update is exactly what a reload would show.
// A stream refused (too many open: 429) or lost for good is opened again after a pause; one that
// merely ended is reopened by the EventSource itself.
// A page shown in reply to a form (a refusal beside its input) has no address to fetch again:
// only a page reached by GET names its own (data-page-url), so a refresh never asks a form's
// address for a page.
var refreshing = false;
function refreshPage() {
  var own = document.body.getAttribute("data-page-url");
  if (refreshing || !own) return;
  refreshing = true;
  fetch(own, { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then(function (reply) {
      if (!reply.ok || reply.redirected) return null;
      return reply.text();
    })
    .then(function (html) {
      if (html === null) return;
      var fresh = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live-page]").forEach(function (region) {
        var name = region.getAttribute("data-live-page");
        var found = fresh.querySelector('[data-live-page="' + name + '"]');
        if (found && region.innerHTML !== found.innerHTML) region.innerHTML = found.innerHTML;
      });
      document.body.setAttribute("data-live-at", String(Date.now()));
    })
    .catch(function () { /* the next update tries again */ })
    .then(function () { refreshing = false; });
}

(function () {
  var regions = document.querySelectorAll("[data-live]");
  var pageRegions = document.querySelectorAll("[data-live-page]");
  if ((!regions.length && !pageRegions.length) || !window.EventSource) return;
  var first = true;
  var stream = null;
  var gone = false;
  function open() {
    if (gone) return;
    // The page names its stream: the recipient's page its own, every other the overview's.
    stream = new EventSource(document.body.getAttribute("data-live-url"));
    stream.addEventListener("update", function (event) {
      var fragments = JSON.parse(event.data);
      regions.forEach(function (region) {
        var html = fragments[region.getAttribute("data-live")];
        if (typeof html === "string" && region.innerHTML !== html) region.innerHTML = html;
      });
      // The stream's first event is the state the page was rendered with: nothing to fetch.
      if (pageRegions.length && !first) refreshPage();
      first = false;
      document.body.setAttribute("data-live-at", String(Date.now()));
    });
    stream.addEventListener("signed-out", function () {
      gone = true;
      stream.close();
      window.location.assign(document.body.getAttribute("data-sign-in-url"));
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

// On a phone the sections' bar scrolls sideways: the current section is brought into view in
// it, rather than left past its right edge where the reader cannot see where they are.
(function () {
  var current = document.querySelector('nav.nav a[aria-current="page"]');
  if (!current) return;
  var bar = current.closest("nav.nav");
  if (bar.scrollWidth <= bar.clientWidth) return;
  var offset = current.getBoundingClientRect().left - bar.getBoundingClientRect().left;
  bar.scrollLeft += offset - (bar.clientWidth - current.offsetWidth) / 2;
})();

// The endpoint form shows the chosen destination type's fields only; without script every
// type's are shown, each with its legend, and the server reads the chosen type's alone.
function showDestination(select) {
  select.form.querySelectorAll("[data-destination]").forEach(function (part) {
    part.hidden = part.getAttribute("data-destination") !== select.value;
  });
}
document.querySelectorAll("select[data-destination-type]").forEach(function (select) {
  showDestination(select);
  select.addEventListener("change", function () { showDestination(select); });
});
