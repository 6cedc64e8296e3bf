"""Django app configs: the engine itself, and the app label that holds the generated models."""
from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    label = "engine"
    verbose_name = "Cabinet engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save
        from guardian.models import GroupObjectPermission, UserObjectPermission

        from . import (
            checks_django,  # noqa: F401  (registers the system check)
            versionbus,
        )
        from .access import grants_changed, memberships_changed
        from .rules import runtime as _rules  # noqa: F401  (registers the rules' hooks of the write path)
        from .workflows import (
            runtime,  # noqa: F401  (registers the workflow hooks into the write path)
            timers,  # noqa: F401  (registers its write hooks)
        )

        m2m_changed.connect(memberships_changed, sender=get_user_model().groups.through,
                            dispatch_uid="cabinet-memberships")
        for signal in (post_save, post_delete):
            signal.connect(memberships_changed, sender=Group, dispatch_uid=f"cabinet-groups-{signal is post_save}")
        for model in (UserObjectPermission, GroupObjectPermission):
            post_save.connect(grants_changed, sender=model, dispatch_uid=f"cabinet-grants-save-{model.__name__}")
            post_delete.connect(grants_changed, sender=model, dispatch_uid=f"cabinet-grants-delete-{model.__name__}")
        versionbus.connect()  # Celery workers and beat follow the published version
        from django.contrib.auth.signals import user_logged_in

        from .language import remember_at_login
        from .pages.intro import on_login

        user_logged_in.connect(remember_at_login, dispatch_uid="cabinet-language-at-login")
        user_logged_in.connect(on_login, dispatch_uid="cabinet-intro")  # a role's first-visit intro


class CabinetConfig(AppConfig):
    """The app label ``cabinet`` of the models compiled from the active solution.

    It has no models module: ``engine.registry`` places the active version's classes in it.
    """

    name = "engine.cabinet"
    label = "cabinet"
    verbose_name = "Cabinet"
    default_auto_field = "django.db.models.BigAutoField"
