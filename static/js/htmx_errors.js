// Answers to htmx requests that cannot be swapped where they were aimed stay on the page:
// a refusal (core.errors.refused, HX-Trigger "preflight:refused") or a server/network error
// shows its message in #htmx-notice (made at the top of <main>); the page and what was typed
// are kept.
(function () {
  "use strict";

  function notice(text) {
    // Made when first needed: an empty alert would sit in every page otherwise.
    var box = document.getElementById("htmx-notice");
    if (!box) {
      var main = document.querySelector("main");
      if (!main) return;
      box = document.createElement("p");
      box.id = "htmx-notice";
      box.className = "msg error";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("preflight:refused", function (event) {
    var detail = event.detail || {};
    notice("Nothing was changed: " + (detail.message || detail.value || "the change was refused."));
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status < 500) return; // 4xx fragments are swapped in place (htmx-config)
    notice(
      "The server answered " + xhr.status + ": nothing on this page was changed. " +
      "Reload to see the current state" + (xhr.getResponseHeader("X-Request-ID")
        ? " (request id " + xhr.getResponseHeader("X-Request-ID") + ")." : ".")
    );
  });

  document.addEventListener("htmx:sendError", function () {
    notice("The portal could not be reached: nothing was sent. Check the connection and retry.");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    // A new change clears the last notice; polling (GET) leaves it.
    var config = event.detail.requestConfig;
    if (config && config.verb === "get") return;
    var box = document.getElementById("htmx-notice");
    if (box) box.hidden = true;
  });
})();
