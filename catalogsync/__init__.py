"""Import from the software catalog: Backstage descriptors from a repository or a directory,
or a Backstage catalog's API; teams and services created or updated, never deleted silently;
``manage.py import_catalog``, a scheduled sync and a page for admins. docs/catalog.md."""
