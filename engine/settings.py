"""Settings of the cabinet builder, read from the environment.

With no environment at all the project runs embedded: SQLite, Celery in eager mode and a
local-memory cache. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL, Redis and real
Celery workers.
"""
import datetime
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    """Read a boolean from the environment ('1', 'true', 'yes', 'on' are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    """Read a comma-separated list from the environment."""
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
PRODUCTION = not DEBUG and env_bool("CABINET_PRODUCTION")
# A development key, publicly known: the system check cabinet.W015 says so loudly wherever it is used.
DEVELOPMENT_SECRET_KEY = "dev-insecure-key-set-SECRET_KEY-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production.")
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

CABINET_SOLUTION = Path(os.environ.get("CABINET_SOLUTION", BASE_DIR / "solutions" / "resort"))
if not CABINET_SOLUTION.is_absolute():
    CABINET_SOLUTION = BASE_DIR / CABINET_SOLUTION
# A module whose ``urlpatterns`` are served beside every version's generated URLs (project views).
CABINET_EXTRA_URLCONF = os.environ.get("CABINET_EXTRA_URLCONF", "")
# Seconds a process may serve a published version before it looks for a newer one when the
# cache is local to the process (with Redis, publishing is seen on the next request).
CABINET_VERSION_TTL = float(os.environ.get("CABINET_VERSION_TTL", "0.5"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "engine.apps.EngineConfig",
    "engine.apps.CabinetConfig",
]

MIDDLEWARE = [
    "engine.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Liveness and readiness answer before sessions, users and the solution are touched.
    "engine.health.HealthMiddleware",
    "csp.middleware.CSPMiddleware",
    "engine.accounts.headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "engine.pages.errors.MethodNotAllowedMiddleware",  # a bare 405 of a cabinet page gets the styled page
    "engine.middleware.ActiveSolutionMiddleware",
    "engine.accounts.twofactor.TwoFactorMiddleware",
    # Last, so it sees the lockout flag the login views leave on the request.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "engine.urls"
WSGI_APPLICATION = "engine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Themes: themes/<name>/cabinet/*.html override themes/default/cabinet/*.html.
        "DIRS": [BASE_DIR / "themes"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["engine.templatetags.cabinet_icons"],  # {% icon name %} in every template
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

VAR_DIR = BASE_DIR / "var"
if not os.environ.get("DATABASE_URL"):
    VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'cabinet.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait for each other instead of failing with "database is locked": WAL lets
    # readers run beside a writer, IMMEDIATE takes the write lock when a transaction begins (a
    # deferred one that upgrades later fails at once rather than waiting), and the busy timeout is
    # how long a writer waits for the lock.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", int(os.environ.get("CABINET_SQLITE_TIMEOUT", "30")))
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL;")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get("CABINET_DB_POOL"):
    # A pool of at most CABINET_DB_POOL connections per process (psycopg_pool): under ASGI every request in
    # flight runs its sync part in its own thread, so a burst (hundreds of chat streams reconnecting after a
    # restart) waits for a pooled connection instead of exceeding the server's max_connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": int(os.environ["CABINET_DB_POOL"]), "timeout": 30}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CACHES["specs"] = CACHES["default"]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
              # Compiled specs (engine/speccache.py) are shared by the processes of one machine through files.
              "specs": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                        "LOCATION": os.environ.get("CABINET_SPEC_CACHE", str(BASE_DIR / "var" / "cache" / "specs"))}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULE = {
    "sweep-webhooks": {"task": "engine.tasks.sweep_webhooks", "schedule": 60.0},
    "sweep-timers": {"task": "engine.tasks.sweep_timers", "schedule": 60.0},
}
# Webhooks: attempts before a delivery is marked failed, and the doubling wait between them.
CABINET_WEBHOOK_ATTEMPTS = int(os.environ.get("CABINET_WEBHOOK_ATTEMPTS", "8"))
CABINET_WEBHOOK_BACKOFF = float(os.environ.get("CABINET_WEBHOOK_BACKOFF", "10"))
CABINET_WEBHOOK_BACKOFF_MAX = float(os.environ.get("CABINET_WEBHOOK_BACKOFF_MAX", "3600"))
# Webhooks go to public addresses only (no loopback, private, link-local, multicast or reserved
# targets: server-side request forgery) unless allowed: all of them, or these hosts / networks.
CABINET_WEBHOOK_ALLOW_PRIVATE = env_bool("CABINET_WEBHOOK_ALLOW_PRIVATE")
CABINET_WEBHOOK_ALLOWED_HOSTS = env_list("CABINET_WEBHOOK_ALLOWED_HOSTS", [])
# Chat streams (engine.chat.stream): seconds between re-checks of a stream's permission (and sweeps of
# the event table), and the lifetime of a stream under WSGI (runserver), after which the browser reconnects.
CABINET_CHAT_RECHECK = float(os.environ.get("CABINET_CHAT_RECHECK", "10"))
CABINET_CHAT_STREAM_LIFETIME = float(os.environ.get("CABINET_CHAT_STREAM_LIFETIME", "25"))

AUTHENTICATION_BACKENDS = [
    # First: refuses locked-out clients before any password is checked.
    "engine.accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a rule: told of every password change, it revokes the user's API tokens.
    {"NAME": "engine.accounts.tokens.RevokeTokensOnPasswordChange"},
]
LOGIN_URL = "/accounts/login/"
CSRF_FAILURE_VIEW = "engine.pages.errors.csrf_failure"  # a styled, translated 403 that says what to do
LOGIN_REDIRECT_URL = "/"

# Proxies whose X-Forwarded-For is believed (addresses or CIDR blocks, comma-separated). Empty: the
# header is ignored and the client is REMOTE_ADDR, so changing the header cannot dodge a lockout.
CABINET_TRUSTED_PROXIES = env_list("CABINET_TRUSTED_PROXIES", [])
# Login lockout (django-axes) on every login path: cabinet, admin and API token.
AXES_FAILURE_LIMIT = int(os.environ.get("CABINET_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("CABINET_LOGIN_COOLOFF_MINUTES", "15")))
# Per client address: changing the username does not reset the count (password spraying).
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "engine.accounts.ip.client_ip"
AXES_LOCKOUT_CALLABLE = "engine.accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "engine.accounts.lockout.attempted_username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Two-factor (TOTP) for roles marked `two_factor: true`: the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = os.environ.get("CABINET_OTP_ISSUER", "Cabinet")

# E-mail (password reset). Without EMAIL_HOST messages are printed on the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "cabinet@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
CABINET_PASSWORD_RESETS_PER_HOUR = int(os.environ.get("CABINET_PASSWORD_RESETS_PER_HOUR", "5"))
PASSWORD_RESET_TIMEOUT = int(os.environ.get("CABINET_PASSWORD_RESET_SECONDS", str(3 * 24 * 3600)))

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "engine" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "themes" / "default" / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Serve app static files even before collectstatic (the demo and tests). Hashed, compressed file
# names need collectstatic, so they are for production (CABINET_PRODUCTION=1).
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("CABINET_PRODUCTION")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Anonymous clients are told apart by engine.accounts.ip.client_ip (proxy headers only from
    # CABINET_TRUSTED_PROXIES); NUM_PROXIES says the same to anything that reads DRF's own setting.
    "DEFAULT_THROTTLE_CLASSES": [
        "engine.accounts.throttling.AnonRateThrottle",
        "engine.accounts.throttling.UserRateThrottle",
    ],
    "NUM_PROXIES": len(CABINET_TRUSTED_PROXIES),
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("CABINET_API_RATE_ANON", "60/minute"),
        "user": os.environ.get("CABINET_API_RATE_USER", "2000/minute"),
        "login": os.environ.get("CABINET_API_RATE_LOGIN", "10/minute"),
    },
    "EXCEPTION_HANDLER": "engine.api.errors.exception_handler",
    # Bounded size, nesting and field count for every body, the login endpoints' included.
    "DEFAULT_PARSER_CLASSES": [
        "engine.api.parsers.JSONParser", "engine.api.parsers.FormParser", "engine.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "engine.api.pagination.Pagination",
    "PAGE_SIZE": 20,
}
REST_KNOX = {
    "TOKEN_TTL": None if os.environ.get("CABINET_TOKEN_DAYS", "90") == "0"
    else datetime.timedelta(days=int(os.environ.get("CABINET_TOKEN_DAYS", "90"))),
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cabinet API",
    "DESCRIPTION": "REST API of the active solution: every entity, with the caller's access rules.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "DISABLE_ERRORS_AND_WARNINGS": True,
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes from inside the cluster speak plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: scripts and styles from this site only, no inline scripts or handlers
# (the themes keep them in static files); the one inline <style> (branding colours) carries a nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Permissions-Policy: powerful browser features the cabinet never uses are off for it and its frames.
CABINET_PERMISSIONS_POLICY = os.environ.get(
    "CABINET_PERMISSIONS_POLICY",
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()",
)

# Logs: plain lines, or JSON lines (CABINET_LOG_FORMAT=json), each with the request id. Errors of
# requests (a 500 with its traceback, on `django.request`) are logged in every configuration.
CABINET_LOG_FORMAT = os.environ.get("CABINET_LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "engine.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "engine.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if CABINET_LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        },
    },
    "loggers": {
        "engine": {"handlers": ["console"], "level": os.environ.get("CABINET_LOG_LEVEL", "WARNING")},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
