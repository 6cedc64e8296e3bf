"""What every cabinet page shares: theme lookup, rendering, labels, the base view and the home redirect.

Every row, field and action shown comes from the access policy; a page the user may not open
answers 404 (anonymous users are sent to the login page first).
"""
from __future__ import annotations

import markdown
import nh3
from django import forms
from django.contrib.auth.views import redirect_to_login
from django.db import models
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import select_template
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View

from .. import content
from ..access import access_for
from ..display import Refs
from .params import BadParameter

CHAT_KINDS = ("chat", "inbox")  # pages whose menu entries show unread counts


def themed(built, name):
    """``cabinet/<name>`` of the solution's theme, else of the default theme."""
    return select_template([f"{built.spec.theme}/cabinet/{name}", f"default/cabinet/{name}"])


def render(request, built, name, context, status=200):
    """Render a cabinet template; pages extend the theme's ``base.html`` (``base_template``)."""
    context.setdefault("base_template", themed(built, "base.html"))
    return HttpResponse(themed(built, name).render(context, request), status=status)


def label(text_label, built):
    return text_label.get(get_language(), built.spec.default_language)


def markdown_html(text):
    """Markdown to HTML, sanitised (no scripts, no event handlers, safe links only)."""
    return nh3.clean(markdown.markdown(text or "", extensions=["tables", "sane_lists"]))


# Model field class (most specific first) -> the widget with the phone's native picker.
HTML5_INPUTS = (
    (models.DateTimeField, forms.DateTimeInput, "datetime-local", "%Y-%m-%dT%H:%M"),
    (models.DateField, forms.DateInput, "date", "%Y-%m-%d"),
    (models.TimeField, forms.TimeInput, "time", "%H:%M"),
)


def html5_widget(field, **kwargs):
    """Form fields with native date and time pickers; a translated field's inputs name their language."""
    language_label = content.form_label(field)
    if language_label:
        kwargs.setdefault("label", language_label)
    for model_class, widget, kind, fmt in HTML5_INPUTS:
        if isinstance(field, model_class):
            kwargs["widget"] = widget(attrs={"type": kind}, format=fmt)
            break
    return field.formfield(**kwargs)


class CabinetView(View):
    built = None

    def dispatch(self, request, *args, **kwargs):
        self.access = access_for(request, self.built)
        self.site = self.built.pages
        try:
            return super().dispatch(request, *args, **kwargs)
        except LoginRequired:
            return redirect_to_login(request.get_full_path())
        except BadParameter as error:
            context = self.context(None, page_title=_("Bad request"), error=error)
            return render(request, self.built, "bad_request.html", context, status=error.status_code)

    def page_or_404(self, name):
        page = self.site.page(name)
        if page is None:
            raise Http404
        if not self.site.allowed(self.access, page):
            if not self.request.user.is_authenticated:
                raise LoginRequired
            raise Http404
        return page

    def context(self, page=None, **extra):
        from .intro import intro_card  # the intro builds on this module

        spec, access = self.built.spec, self.access
        parent = page.parent or page.name if page else None
        menus = {"main_menu": self.site.menu(access), "section_menu": self.site.menu(access, "section", parent),
                 "user_menu": self.site.menu(access, "user")}
        badges = self.badges([p for pages in menus.values() for p in pages])
        return {
            "solution": spec, "solution_label": label(spec.label, self.built), "page": page,
            "page_title": label(page.title, self.built) if page else label(spec.label, self.built),
            **{name: [(p, label(p.title, self.built), badges.get(p.name)) for p in pages]
               for name, pages in menus.items()},
            "branding": dict(spec.branding), "languages": self.languages(), "access": access,
            "current": parent, "badges": badges, "unread_total": sum(badges.values()),
            "intro": intro_card(self, page), **extra,
        }

    def badges(self, pages):
        """{page: conversations with unread messages} of the chat and inbox pages among ``pages``: one query,
        and none when no such page is shown."""
        chat_pages = [p for p in pages if p.kind in CHAT_KINDS and p.chats]
        if not chat_pages:
            return {}
        from ..chat import service  # the chat package imports the pages' helpers

        unread = service.unread(self.access)
        return {p.name: sum(unread.get(name, 0) for name in p.chats) for p in chat_pages}

    def languages(self):
        from django.conf import settings

        names = dict(settings.LANGUAGES)
        return [(code, names.get(code, code)) for code in self.built.spec.languages if code in names]

    def refs(self):
        """How refs show to this reader (titles of rows out of their scope are hidden)."""
        return Refs(self.access, self.built.spec, self.built.spec.currency)

    def entity(self, page):
        return self.built.spec.entity(page.entity)


    def action_item(self, page, obj, name, t):
        """A workflow button of ``obj`` (label, confirmation question, URL); a transition with fields to fill
        (``form``) opens its confirmation form instead of posting at once."""
        question = label(t.confirm, self.built) if not isinstance(t.confirm, bool) else (
            _("Are you sure?") if t.confirm else "")
        return {"label": label(t.label, self.built), "question": question, "form": bool(t.fields),
                "url": reverse("page-transition", args=[page.name, obj.pk, name])}


class LoginRequired(Exception):
    pass


class HomeView(CabinetView):
    def get(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        page = self.site.home(self.access)
        if page is None:
            return render(request, self.built, "empty.html", self.context(), status=200)
        return redirect("page", page=page.name)

