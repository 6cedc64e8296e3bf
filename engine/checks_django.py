"""Surface the solution's problems through Django's system-check framework."""
from django.conf import settings
from django.core import checks


@checks.register("cabinet")
def check_solution(app_configs=None, **kwargs):
    """Compile the configured solution folder and report its problems as system checks."""
    from .compiler import compile_folder

    messages = []
    for problem in compile_folder(settings.CABINET_SOLUTION).problems:
        cls = checks.Error if problem.is_error else checks.Warning
        place, message, hint = problem.shown
        messages.append(cls(f"{place}: {message}", hint=hint or None, id=problem.id))
    return messages


# Cache backends that live inside one process: other processes never see what they hold or drop.
PROCESS_LOCAL_CACHES = ("locmem", "dummy", "filebased")
DEVELOPMENT_KEY, LOCAL_CACHE = "W015", "E270"  # ids of engine.errors.CATALOG


@checks.register("cabinet", checks.Tags.security)
def check_deployment(app_configs=None, **kwargs):
    """Say loudly when the development secret key is in use; refuse production without a shared cache."""
    messages = []
    if settings.SECRET_KEY == getattr(settings, "DEVELOPMENT_SECRET_KEY", None):
        messages.append(checks.Warning(
            "SECRET_KEY is not set: sessions and password-reset links are signed with the publicly known "
            "development key. Fine on your machine, never on a server.",
            hint="set SECRET_KEY in the environment (CABINET_PRODUCTION=1 refuses to start without it)",
            id=f"cabinet.{DEVELOPMENT_KEY}"))
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if getattr(settings, "PRODUCTION", False) and any(kind in backend for kind in PROCESS_LOCAL_CACHES):
        messages.append(checks.Error(
            f"CABINET_PRODUCTION is set but the cache ({backend}) is local to each process: a revoked role, "
            "grant or published version stays in force in the other processes for minutes.",
            hint="set REDIS_URL so all processes share one cache", id=f"cabinet.{LOCAL_CACHE}"))
    return messages
