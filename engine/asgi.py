"""ASGI entry point: what serves the chat's live streams (and every other page) in production.

Run it with gunicorn and uvicorn's workers (the Procfile's ``web``: ``gunicorn engine.asgi:application``
with ``worker_class`` from gunicorn.conf.py), or alone with ``uvicorn engine.asgi:application``. Under
ASGI an open chat stream waits on the event loop instead of holding a thread (``engine.chat.stream``).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
application = get_asgi_application()
