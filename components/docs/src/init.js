// Swagger UI over the document this origin serves. "Authorize" offers the
// document's schemes: a bearer token, or the OAuth2 password flow, which
// posts the username and password to /token. Authorization stays in the
// page's memory only: `persistAuthorization` would write the password and
// the refresh token to localStorage, where they outlive the tab and any
// script on this origin can read them.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
