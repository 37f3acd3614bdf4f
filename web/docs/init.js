// Swagger UI for the OpenAPI document of the server this page came from (on the web app
// its servers entry is <origin>/api, on the API's own port <origin>). No online validator
// (it would send the document to validator.swagger.io, which the CSP refuses anyway).
"use strict";

window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: false,
});
