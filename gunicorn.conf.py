"""Gunicorn settings of the production stack (gunicorn reads ./gunicorn.conf.py by default).

The workers are uvicorn's (ASGI, ``engine/asgi.py``): a chat stream waits on a worker's event loop rather
than holding a thread, so one worker keeps thousands of streams open. gunicorn's ``timeout`` is the
worker's heartbeat to the master, not a limit on a request, so streams may stay open for hours.

Environment: ``GUNICORN_BIND`` (default ``127.0.0.1:$PORT``, port 8000; the container binds
``0.0.0.0:8000``), ``WEB_CONCURRENCY`` (worker processes), ``GUNICORN_TIMEOUT``, and gunicorn's own
``GUNICORN_CMD_ARGS`` / ``FORWARDED_ALLOW_IPS``.
"""
import multiprocessing
import os
from pathlib import Path

# Loopback unless told otherwise: gunicorn's own default with PORT set is every interface.
bind = [os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT') or '8000'}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
# No preload: every worker compiles the published solution itself and opens its own connections,
# and follows newer versions on its own (the registry checks the published number per request).
preload_app = False
worker_class = "uvicorn_worker.UvicornWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Each published version builds new model classes; recycling workers bounds what old versions keep
# (open chat streams of a recycled worker end, and their browsers reconnect to another with Last-Event-ID).
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# The heartbeat file on tmpfs when there is one (a container's /tmp may be a slow overlay).
SHM = Path("/dev/shm")  # noqa: S108 (gunicorn makes its files there with mkstemp)
if SHM.is_dir():
    worker_tmp_dir = str(SHM)
