// /docs: Swagger UI over the platform's OpenAPI document (vendored, no CDN); "Authorize" takes a bearer token
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
