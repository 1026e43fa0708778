// Starts Swagger UI on the service's own document (GET /docs/swagger-init.js). A file of its
// own rather than an inline script, so that the page's Content-Security-Policy can forbid inline
// scripts altogether.
'use strict';

window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    // Relative to /docs, so this is the same origin (and path prefix) the page came from, and
    // "Try it out" calls the very service that serves the page.
    url: 'openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    displayRequestDuration: true,
    // The default validator is a badge image from validator.swagger.io: no requests elsewhere.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
