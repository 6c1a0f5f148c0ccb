// Swagger UI's initializer, a file of its own because the CSP forbids inline scripts.
// The document is the API's own /openapi.json (relative: works behind a path prefix);
// validatorUrl null keeps the page from calling swagger.io (the docs must work offline).
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: new URL('../openapi.json', window.location.href).toString(),
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
