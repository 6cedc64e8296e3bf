# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test test-postgres serve serve-env browser lint bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/python manage.py demo

# Browser tests drive Debian's Chromium; install it when missing (as root), else they are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "Chromium is not installed: the browser tests will be skipped."; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The same suite against PostgreSQL and Redis (see .ci/run, which starts them when down).
test-postgres: $(STAMP) browser
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cabinet} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(BIN)/python -m pytest

# The production stack on one machine (README "Deployment"): the Procfile's release step (Django's
# tables, the solution, static files), then gunicorn, a Celery worker and beat under honcho.
serve: serve-env $(STAMP)
	mkdir -p var
	PATH="$(CURDIR)/$(BIN):$$PATH" CABINET_PRODUCTION=$${CABINET_PRODUCTION:-1} $(BIN)/honcho start release
	PATH="$(CURDIR)/$(BIN):$$PATH" CABINET_PRODUCTION=$${CABINET_PRODUCTION:-1} \
	  $(BIN)/honcho start --port $${PORT:-8000} web worker beat

# Refuse before installing or starting anything when the production environment is incomplete.
serve-env:
	@status=0; \
	if [ -z "$$DATABASE_URL" ]; then status=2; \
	  echo "make serve: set DATABASE_URL, e.g. postgres://cabinet:secret@127.0.0.1:5432/cabinet" >&2; fi; \
	if [ -z "$$REDIS_URL" ]; then status=2; \
	  echo "make serve: set REDIS_URL, e.g. redis://127.0.0.1:6379/0 (the shared cache and Celery's broker)" >&2; fi; \
	if [ -z "$$SECRET_KEY" ]; then status=2; echo "make serve: set SECRET_KEY to a long random string" >&2; fi; \
	if [ $$status != 0 ]; then echo "make serve: refusing to start; see README.md, section Deployment" >&2; fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/hot_reload.py
	$(BIN)/python bench/access.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/builder.py

# Compile engine/locale/*/LC_MESSAGES/django.po to .mo (committed, so a fresh clone needs no gettext).
messages: $(STAMP)
	$(BIN)/python engine/compile_messages.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
