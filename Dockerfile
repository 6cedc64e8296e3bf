# The cabinet builder's image: one image for web (gunicorn), worker and beat (see compose.yaml).
# Build: docker build -t cabinet-builder .   Run: docker compose up (README, section Deployment).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user without a login shell or a home to write in; it owns only var/ (static files, media,
# beat's schedule).
RUN groupadd --system --gid 10001 cabinet \
 && useradd --system --uid 10001 --gid cabinet --no-create-home --shell /usr/sbin/nologin cabinet

WORKDIR /app
COPY . /app
# Editable: settings find solutions/ and themes/ beside the engine package, in /app.
RUN pip install -e . \
 && mkdir -p /app/var/static /app/var/media \
 && chown -R cabinet:cabinet /app/var

ENV CABINET_PRODUCTION=1 \
    STATIC_ROOT=/app/var/static \
    MEDIA_ROOT=/app/var/media \
    CABINET_BEAT_SCHEDULE=/app/var/celerybeat-schedule \
    GUNICORN_BIND=0.0.0.0:8000

# Static files are part of the image (hashed names, compressed). The key below exists only for this
# command: production settings refuse to start without SECRET_KEY, which the container gets at run time.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && chown -R cabinet:cabinet /app/var

USER cabinet
EXPOSE 8000
CMD ["gunicorn", "engine.asgi:application"]
