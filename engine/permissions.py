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


# Django model permissions a role's actions imply (the admin checks these for staff roles).
ACTION_PERMISSIONS = {"list": "view", "view": "view", "create": "add", "update": "change", "delete": "delete"}


def sync_role_groups(built):
    """Create one group per role and give it the model permissions its actions imply."""
    from django.contrib.auth.models import Group

    ctypes = ContentType.objects.get_for_models(*built.models.values(), for_concrete_models=False)
    perms = {(p.content_type_id, p.codename): p for p in Permission.objects.filter(content_type__in=ctypes.values())}
    for role in built.spec.roles:
        group, _ = Group.objects.get_or_create(name=role.group)
        wanted = []
        for grant in role.grants:
            model = built.models[grant.entity]
            actions = ACTION_PERMISSIONS.values() if "all" in grant.actions else {
                ACTION_PERMISSIONS[a] for a in grant.actions if a in ACTION_PERMISSIONS}
            for action in set(actions):
                perm = perms.get((ctypes[model].pk, f"{action}_{model._meta.model_name}"))
                if perm:
                    wanted.append(perm)
        group.permissions.set(wanted)
