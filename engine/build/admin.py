"""Build a Django admin site for one version: every entity registered for staff."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from ..fieldtypes import FieldType

LIST_TYPES = {FieldType.STRING, FieldType.CHOICE, FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY,
              FieldType.BOOLEAN, FieldType.DATE, FieldType.DATETIME, FieldType.TIME, FieldType.EMAIL,
              FieldType.PHONE, FieldType.REF}


class CabinetAdminSite(admin.AdminSite):
    site_header = "Cabinet administration"
    site_title = "Cabinet admin"
    index_title = "Solution data"


def model_admin_for(entity):
    """Return a ``ModelAdmin`` class for ``entity``: list columns, filters, search and lookups."""
    shown = [f for f in entity.fields if f.type in LIST_TYPES]
    if entity.title:
        shown.sort(key=lambda f: f.name != entity.title)
    refs = [f.name for f in entity.fields if f.type is FieldType.REF]
    attrs = {
        "list_display": [f.name for f in shown[:6]] or ["__str__"],
        "list_filter": [f.name for f in entity.fields if f.type in (FieldType.CHOICE, FieldType.BOOLEAN)],
        "search_fields": list(entity.search),
        "raw_id_fields": refs,
        "list_select_related": [name for name in refs if name in [f.name for f in shown[:6]]],
        "list_per_page": 50,
        "show_full_result_count": False,
    }
    return type(f"{entity.class_name}Admin", (admin.ModelAdmin,), attrs)


def build_admin_site(built):
    """Return a new admin site with the user and group admins and one admin per entity."""
    site = CabinetAdminSite(name="admin")
    user_model = get_user_model()
    for model in (user_model, Group):
        if model in admin.site._registry:
            site.register(model, type(admin.site._registry[model]))
    for entity in built.spec.entities:
        site.register(built.models[entity.name], model_admin_for(entity))
    return site
