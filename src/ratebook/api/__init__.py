"""The REST API: ``create_app(settings)`` builds a FastAPI app over the same workflows the
CLI calls. No business rule lives in a route."""

from ratebook.api.app import create_app

__all__ = ["create_app"]
