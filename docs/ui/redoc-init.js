// Starts ReDoc on the service's own document (GET /redoc/redoc-init.js); a file rather than an
// inline script for the page's Content-Security-Policy.
'use strict';

const systemFonts = 'system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif';

Redoc.init(
  // Relative to /redoc: the same origin and path prefix the page came from.
  'openapi.json',
  {
    expandResponses: '200,201',
    // ReDoc's default theme names Roboto and Montserrat, which its usual page template loads
    // from Google Fonts; this page loads no fonts, so name the ones the system has.
    theme: {
      typography: {
        fontFamily: systemFonts,
        headings: { fontFamily: systemFonts },
        code: { fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace' },
      },
    },
  },
  document.getElementById('redoc'),
);
