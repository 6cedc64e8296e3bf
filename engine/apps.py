"""Django app configs: the engine itself, and the app label that holds the generated models."""
from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    label = "engine"
    verbose_name = "Cabinet engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks_django  # noqa: F401  (registers the system check)


class CabinetConfig(AppConfig):
    """The app label ``cabinet`` of the models compiled from the active solution.

    It has no models module: ``engine.registry`` places the active version's classes in it.
    """

    name = "engine.cabinet"
    label = "cabinet"
    verbose_name = "Cabinet"
    default_auto_field = "django.db.models.BigAutoField"
