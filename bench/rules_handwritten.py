"""The hand-written counterpart of the generated transition ``complete`` of ``purchase``, for ``bench/rules.py``.

A DRF ``APIView`` as a developer would write "complete a paid purchase": in one ``transaction.atomic()``
the row is read with ``select_for_update``, its state checked (409 when it is not ``paid``), the state
changed, the customer's points incremented with ``F()``, a ledger row inserted and an ``AuditRecord``
inserted (who, when, from, to), then the row is serialised back with the same fields as the generated
API. DRF's default authentication, permission and throttle classes (the project's settings) apply, as
they do to the generated endpoint.

Served beside the generated URLs with ``CABINET_EXTRA_URLCONF=bench.rules_handwritten``:
``POST /hand/purchase/<id>/complete/``.
"""
from __future__ import annotations

from django.apps import apps
from django.db import transaction
from django.db.models import F
from django.urls import path
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.models import AuditRecord

FIELDS = ["id", "title", "customer", "qty", "price", "status"]
_serializers = {}


def serializer_for(model):
    cls = _serializers.get(model)
    if cls is None:
        meta = type("Meta", (), {"model": model, "fields": FIELDS, "read_only_fields": FIELDS})
        cls = type("HandPurchaseSerializer", (serializers.ModelSerializer,), {"Meta": meta})
        _serializers.clear()
        _serializers[model] = cls
    return cls


class Complete(APIView):
    def post(self, request, pk):
        purchase = apps.get_model("cabinet", "purchase")
        customer = apps.get_model("cabinet", "customer")
        ledger = apps.get_model("cabinet", "ledger")
        with transaction.atomic():
            row = purchase._base_manager.select_for_update().filter(pk=pk).first()
            if row is None:
                return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
            if row.status != "paid":
                return Response({"detail": "Not paid."}, status=status.HTTP_409_CONFLICT)
            row.status = "done"
            row.save(update_fields=["status"])
            customer._base_manager.filter(pk=row.customer_id).update(points=F("points") + row.qty)
            ledger._base_manager.create(customer_id=row.customer_id, purchase=row, points=row.qty)
            AuditRecord.objects.create(entity="purchase", object_id=row.pk, action="transition",
                                       transition="complete", actor=request.user,
                                       actor_label=request.user.get_username(), source="api",
                                       from_state="paid", to_state="done", changes={"status": ["paid", "done"]})
        return Response(serializer_for(purchase)(row).data)


urlpatterns = [path("hand/purchase/<int:pk>/complete/", Complete.as_view())]
