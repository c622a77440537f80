"""The shared core: what every app needs and no app owns. Domain errors and the refusal page
(``errors``), htmx helpers (``htmx``), the constant-time bearer check (``auth``), handing
tasks to the broker (``broker``), /metrics and the apps' collectors (``metrics``), write-once
rows (``immutable``), read-only admin (``admin``), CSV safe from formula injection
(``csvsafe``) and the error reports that never show secrets (``debug``).

The lowest layer: it imports Django and third-party libraries, never a project app."""
