"""The cabinet builder engine: YAML solutions compiled at runtime into Django models, pages and APIs."""
from .celery import app as celery_app

__all__ = ["celery_app"]
