"""The Celery app: eager with no broker, real workers when REDIS_URL is set."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
app = Celery("cabinet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
