"""The cabinet's page views, one module per page kind; ``PageView`` answers ``p/<page>/`` for every kind.

Every row, field and action shown comes from the access policy; a page the user may not open
answers 404 (anonymous users are sent to the login page first).
"""
from __future__ import annotations

from django.http import Http404

from .base import CabinetView, HomeView, LoginRequired
from .calendar import CalendarPage
from .chat import ChatPage, ConversationActionView, ConversationView, MessageActionView, StartView, TicketRowView
from .dashboard import DashboardPage
from .detail import DetailPage
from .exports import ExportView
from .forms import FormView
from .info import InfoPage
from .lists import ListPage
from .profile import ProfileView
from .pwa import icon, manifest, offline, service_worker
from .queues import BulkView
from .record import RecordPage
from .transitions import TransitionView

__all__ = ["BulkView", "CabinetView", "ConversationActionView", "ConversationView", "ExportView", "FormView",
           "HomeView",
           "LoginRequired", "MessageActionView", "PageView", "ProfileView", "StartView", "TicketRowView",
           "TransitionView", "icon", "manifest", "offline", "service_worker"]


class PageView(RecordPage, ListPage, DetailPage, DashboardPage, InfoPage, CalendarPage, ChatPage):
    """``p/<page>/`` (the page's kind) and ``p/<page>/<pk>/`` (a row of the page's entity)."""

    def get(self, request, page, pk=None):
        spec = self.page_or_404(page)
        if pk is not None:
            if not spec.entity:
                raise Http404
            return self.detail(spec, pk)
        handler = getattr(self, f"kind_{spec.kind}", None)
        if handler is None:
            raise Http404
        return handler(spec)
