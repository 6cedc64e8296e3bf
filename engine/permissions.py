"""Content types and model permissions of the generated models, so admin and guardian can use them."""
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

ACTIONS = ("add", "change", "delete", "view")


def sync_permissions(built):
    """Create the content type and the add/change/delete/view permissions of every entity model."""
    ctypes = ContentType.objects.get_for_models(*built.models.values(), for_concrete_models=False)
    wanted = {}
    for model, ctype in ctypes.items():
        for action in ACTIONS:
            wanted[(ctype.pk, f"{action}_{model._meta.model_name}")] = (ctype, f"Can {action} {model._meta.model_name}")
    existing = set(Permission.objects.filter(content_type__in=ctypes.values()).values_list("content_type", "codename"))
    Permission.objects.bulk_create([
        Permission(content_type=ctype, codename=codename, name=name)
        for (ct_pk, codename), (ctype, name) in wanted.items() if (ct_pk, codename) not in existing
    ])


def sync_role_groups(built):
    """Create the group of every role: holding a role is being in its group.

    Groups get no model permissions: what a role may do is decided by the access policy
    (``engine.access``), for the admin as for every other consumer.
    """
    from django.contrib.auth.models import Group

    for role in built.spec.roles:
        Group.objects.get_or_create(name=role.group)
