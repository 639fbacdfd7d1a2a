"""The composition root: FastAPI app, pages and JSON API, auth, settings, database, CLI."""
