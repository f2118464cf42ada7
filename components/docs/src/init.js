// Swagger UI over the document this origin serves. "Authorize" offers the
// document's schemes: a bearer token, or the OAuth2 password flow, which
// posts the username and password to /token.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
  });
});
