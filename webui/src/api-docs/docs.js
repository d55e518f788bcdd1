// SPDX-License-Identifier: GPL-2.0-or-later
// /api/docs: Swagger UI (swagger-ui-dist, copied here by webui/build.mjs) rendering docs/openapi.yaml,
// served beside it. An external file, not an inline script: the daemon's Content-Security-Policy
// allows scripts from 'self' only. Nothing is fetched from elsewhere: no validator badge (it would
// ask validator.swagger.io). "Try it out" calls /api/v1 from this origin, with this browser's
// qhm_session cookie (open /?token=TOKEN once) or a bearer token given under Authorize.
window.ui = window.SwaggerUIBundle({
  url: '/api/docs/openapi.yaml',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
