"""Builder views: pages and menus, workflows (state diagrams drawn on the server), branding and languages.

The sections live in ``menus``, ``page_forms``, ``workflows`` and ``branding``; this module puts their
URLs together (browse pages at ``/builder/<section>/``, the same in a draft at ``/builder/d/<id>/<section>/``).
"""
from django.urls import path

from . import branding, menus, page_forms, workflows

urlpatterns = [
    path("pages/", menus.pages, name="pages"),
    path("d/<int:draft_id>/pages/", menus.pages, name="pages"),
    path("d/<int:draft_id>/menu-order/", menus.menu_order, name="menu_order"),
    path("d/<int:draft_id>/add-page/", page_forms.page_add, name="page_add"),
    path("d/<int:draft_id>/pages/<slug:page>/", page_forms.page_edit, name="page_edit"),
    path("d/<int:draft_id>/pages/<slug:page>/remove/", page_forms.page_remove, name="page_remove"),
    path("workflows/", workflows.workflows, name="workflows"),
    path("d/<int:draft_id>/workflows/", workflows.workflows, name="workflows"),
    path("workflows/<slug:workflow>/", workflows.workflow, name="workflow"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/", workflows.workflow, name="workflow"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/add-state/", workflows.state_add, name="state_add"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/states/<slug:state>/remove/", workflows.state_remove,
         name="state_remove"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/add-transition/", workflows.transition_add,
         name="transition_add"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/transitions/<slug:name>/", workflows.transition_edit,
         name="transition_edit"),
    path("d/<int:draft_id>/workflows/<slug:workflow>/transitions/<slug:name>/remove/", workflows.transition_remove,
         name="transition_remove"),
    path("branding/", branding.branding, name="branding"),
    path("branding/preview/", branding.branding_preview, name="branding_preview"),
    path("d/<int:draft_id>/branding/", branding.branding, name="branding"),
    path("d/<int:draft_id>/languages/", branding.languages, name="languages"),
]
