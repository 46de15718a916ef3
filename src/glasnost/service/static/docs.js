// /docs: Swagger UI over the platform's OpenAPI document (vendored, no CDN); "Authorize" takes a bearer token.
// No deep links: Swagger UI puts them as links inside its operation buttons (nested controls).
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: false });
});
