// Starts Swagger UI on /docs. A file of its own, not an inline script, so the page runs under
// a Content-Security-Policy of script-src 'self'.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    filter: true,
    displayRequestDuration: true,
    // The default validator is a badge fetched from another site: nothing leaves the gateway.
    validatorUrl: null,
    // A key typed into Authorize lives only as long as the tab, never in localStorage.
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    // Each tag opens when asked: Swagger UI stops drawing the operations of a document this
    // large part way down when every tag is open at once, silently.
    docExpansion: "none",
  });
})();
