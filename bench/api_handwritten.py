"""The hand-written counterpart of the generated ``/api/item/`` endpoints, for ``bench/api.py``.

A plain DRF ``ModelViewSet`` + ``ModelSerializer`` over the same model class, as a developer would
write it for "items of the signed-in user": ``Item.objects.filter(user=request.user)``, the same
fields in the same order, the model's ordering, page-number pagination of 20 and DRF's default
authentication, permission and throttle classes (the project's settings, as for the generated API).

The model is built at run time from the published YAML, so it is looked up when a request comes
(``apps.get_model``) and the serializer class is made once per model class. The benchmark serves
this module beside the generated URLs with ``CABINET_EXTRA_URLCONF=bench.api_handwritten``:
``/hand/item/`` and ``/hand/item/<id>/``.
"""
from __future__ import annotations

from django.apps import apps
from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.routers import SimpleRouter

FIELDS = ["id", "title", "qty", "price", "status", "created", "user"]
_serializers = {}


def item_model():
    return apps.get_model("cabinet", "item")


def serializer_for(model):
    """The ``ModelSerializer`` of ``model`` (one class per built model class)."""
    cls = _serializers.get(model)
    if cls is None:
        meta = type("Meta", (), {"model": model, "fields": FIELDS, "read_only_fields": FIELDS})
        cls = type("HandItemSerializer", (serializers.ModelSerializer,), {"Meta": meta})
        _serializers.clear()  # a newer version replaced the model class: forget the old one
        _serializers[model] = cls
    return cls


class Pagination(PageNumberPagination):
    page_size = 20


class HandItemViewSet(viewsets.ModelViewSet):
    """The caller's own items (the benchmark lists and retrieves; every field is read-only, as the
    generated serializer has them for a role that may only list and view)."""

    pagination_class = Pagination

    def get_queryset(self):
        return item_model()._default_manager.filter(user=self.request.user)

    def get_serializer_class(self):
        return serializer_for(item_model())


router = SimpleRouter()
router.register("item", HandItemViewSet, basename="hand-item")
urlpatterns = [path("hand/", include(router.urls))]
