"""Page views of the cabinet: list, detail, form, dashboard, info, calendar, profile and the PWA files.

Every row, field and action shown comes from the access policy; a page the user may not open
answers 404 (anonymous users are sent to the login page first).
"""
from __future__ import annotations

import datetime as dt
import io
import json
from functools import reduce
from operator import or_

import markdown
import nh3
from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string, select_template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import View
from django.views.decorators.cache import cache_control

from .. import webhooks
from ..access import access_for
from ..display import display, row_title
from ..fieldtypes import PHONE_RE, FieldType
from ..workflow import allowed as transition_allowed
from ..workflow import fire, transitions_of

FILTERABLE = (FieldType.CHOICE, FieldType.BOOLEAN)


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
    """Form fields with native date and time pickers."""
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
        spec, access = self.built.spec, self.access
        parent = page.parent or page.name if page else None
        return {
            "solution": spec, "solution_label": label(spec.label, self.built), "page": page,
            "page_title": label(page.title, self.built) if page else label(spec.label, self.built),
            "main_menu": [(p, label(p.title, self.built)) for p in self.site.menu(access)],
            "section_menu": [(p, label(p.title, self.built)) for p in self.site.menu(access, "section", parent)],
            "user_menu": [(p, label(p.title, self.built)) for p in self.site.menu(access, "user")],
            "branding": dict(spec.branding), "languages": self.languages(), "access": access,
            "current": parent, **extra,
        }

    def languages(self):
        from django.conf import settings

        names = dict(settings.LANGUAGES)
        return [(code, names.get(code, code)) for code in self.built.spec.languages if code in names]

    def entity(self, page):
        return self.built.spec.entity(page.entity)


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


class PageView(CabinetView):
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

    # --- list --------------------------------------------------------------------------------

    def kind_list(self, page):
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        shown = [n for n in (page.columns or visible) if n in visible and entity.field(n).type is not FieldType.REFS]
        columns = [entity.field(n) for n in shown[:8]]
        qs = access.queryset(entity.name, "list")
        filters = []
        for name in page.filters:
            f = entity.field(name)
            if name not in visible or f.type not in FILTERABLE:
                continue
            options = ([(c.value, label(c.label, self.built)) for c in f.choices] if f.type is FieldType.CHOICE
                       else [("1", _("Yes")), ("0", _("No"))])
            chosen = self.request.GET.get(name, "")
            if chosen in dict(options):
                qs = qs.filter(**{name: (chosen == "1") if f.type is FieldType.BOOLEAN else chosen})
            filters.append({"name": name, "label": label(f.label, self.built), "options": options, "value": chosen})
        searchable = [n for n in entity.search if n in visible]
        query = self.request.GET.get("q", "").strip()[:100]
        if page.search and searchable and query:
            qs = qs.filter(reduce(or_, (Q(**{f"{n}__icontains": query}) for n in searchable)))
        sort = self.request.GET.get("sort", "")
        if sort.lstrip("-") in shown:
            qs = qs.order_by(sort, "-id")
        refs = [f.name for f in columns if f.type is FieldType.REF]
        qs = qs.select_related(*refs) if refs else qs
        paged = Paginator(qs, page.page_size).get_page(self.request.GET.get("page"))
        detail = self.site.detail_page(access, entity.name) or page
        currency = self.built.spec.currency
        titles = [label(f.label, self.built) for f in columns]
        actions = self.row_actions(entity, detail, paged.object_list)
        rows = [{"obj": obj, "url": reverse("page-row", args=[detail.name, obj.pk]), "actions": actions.get(obj.pk, []),
                 "cells": list(zip(titles, [display(obj, f, currency) for f in columns], strict=True))}
                for obj in paged.object_list]
        form_page = self.site.form_page(access, entity.name)
        context = self.context(
            page, entity=entity, columns=[(f.name, label(f.label, self.built)) for f in columns], rows=rows,
            paged=paged, filters=filters, query=query, sort=sort, searchable=bool(page.search and searchable),
            has_actions=any(row["actions"] for row in rows),
            create_url=reverse("page-new", args=[(form_page or page).name])
            if access.can(entity.name, "create") else None,
            empty=label(entity.plural, self.built),
        )
        name = "_list_results.html" if getattr(self.request, "htmx", False) else "list.html"
        return render(self.request, self.built, name, context)

    def row_actions(self, entity, page, rows):
        """Workflow buttons per row of a list page: one query per transition, whatever the rows."""
        ids = [row.pk for row in rows]
        found = {}
        for name, (wf, t) in transitions_of(self.built.spec, entity.name).items():
            if not ids or not transition_allowed(self.access, entity.name, name):
                continue
            allowed = set(self.access.queryset(entity.name, name).filter(pk__in=ids).values_list("pk", flat=True))
            for row in rows:
                if row.pk in allowed and getattr(row, wf.field) in t.sources:
                    found.setdefault(row.pk, []).append(self.action_item(page, row, name, t))
        return found

    def action_item(self, page, obj, name, t):
        question = label(t.confirm, self.built) if not isinstance(t.confirm, bool) else (
            _("Are you sure?") if t.confirm else "")
        return {"label": label(t.label, self.built), "question": question,
                "url": reverse("page-transition", args=[page.name, obj.pk, name])}

    # --- detail ------------------------------------------------------------------------------

    def detail(self, page, pk):
        entity, access = self.entity(page), self.access
        visible = access.visible_fields(entity.name)
        refs = [n for n in visible if entity.field(n).type is FieldType.REF]
        obj = access.get(entity.name, pk, "view", refine=lambda qs: qs.select_related(*refs))
        currency = self.built.spec.currency
        sections = page.sections if page.kind == "detail" and page.sections else None
        groups = []
        for section_title, names in ([(label(s.title, self.built), s.fields) for s in sections] if sections
                                     else [("", visible)]):
            groups.append((section_title, [(label(entity.field(n).label, self.built), display(obj, entity.field(n),
                                                                                             currency))
                                           for n in names if n in visible]))
        related = []
        for rel in page.related if page.kind == "detail" else ():
            if not access.can(rel.entity, "list"):
                continue
            other = self.built.spec.entity(rel.entity)
            other_visible = access.visible_fields(rel.entity)
            cols = [other.field(n) for n in (rel.columns or other_visible) if n in other_visible][:5]
            refs = [f.name for f in cols if f.type is FieldType.REF]
            rows = access.queryset(rel.entity, "list").filter(**{rel.via: obj}).select_related(*refs)[:20]
            target = self.site.detail_page(access, rel.entity)
            related.append({
                "title": label(rel.title, self.built), "columns": [label(f.label, self.built) for f in cols],
                "rows": [{"cells": [display(r, f, currency) for f in cols],
                          "url": reverse("page-row", args=[target.name, r.pk]) if target else None} for r in rows],
            })
        actions = []
        for name, (wf, t) in transitions_of(self.built.spec, entity.name).items():
            if getattr(obj, wf.field) in t.sources and transition_allowed(access, entity.name, name) and \
                    access.queryset(entity.name, name).filter(pk=obj.pk).exists():
                actions.append(self.action_item(page, obj, name, t))
        can_edit = access.queryset(entity.name, "update").filter(pk=obj.pk).exists() if access.can(
            entity.name, "update") else False
        title = row_title(obj, entity, visible, currency)
        context = self.context(page, entity=entity, obj=obj, title=title, groups=groups, related=related,
                               actions=actions, edit_url=reverse("page-edit", args=[page.name, obj.pk])
                               if can_edit else None)
        return render(self.request, self.built, "detail.html", context)

    # --- dashboard, info, calendar ---------------------------------------------------------

    def kind_dashboard(self, page):
        access, cards = self.access, []
        for card in page.cards:
            item = {"kind": card.kind, "title": label(card.title, self.built), "url": None}
            target = self.site.page(card.page) if card.page else None
            if target and self.site.allowed(access, target):
                item["url"] = reverse("page", args=[target.name])
            if card.entity and not access.can(card.entity, "list"):
                continue
            if card.kind == "counter":
                filters = {name: access.value(value) for name, value in card.filter}
                item["value"] = access.queryset(card.entity).filter(**filters).count()
            elif card.kind == "recent":
                detail = self.site.detail_page(access, card.entity)
                entity = self.built.spec.entity(card.entity)
                visible = access.visible_fields(card.entity)
                refs = [n for n in visible if entity.field(n).type is FieldType.REF][:2]
                rows = access.queryset(card.entity).filter(**dict(card.filter)).select_related(*refs)[: card.limit]
                item["rows"] = [(row_title(r, entity, visible, self.built.spec.currency),
                                 reverse("page-row", args=[detail.name, r.pk]) if detail else None) for r in rows]
            elif card.kind == "balance":
                f = self.built.spec.entity(card.entity).field(card.field)
                row = access.queryset(card.entity).first()
                item["value"] = display(row, f, self.built.spec.currency) if row and f else "—"
            elif card.kind == "text":
                item["html"] = markdown_html(label(card.text, self.built))
            elif card.kind == "shortcut" and not item["url"]:
                continue
            cards.append(item)
        return render(self.request, self.built, "dashboard.html", self.context(page, cards=cards))

    def kind_info(self, page):
        html = markdown_html(label(page.content, self.built))
        return render(self.request, self.built, "info.html", self.context(page, html=html))

    def kind_calendar(self, page):
        entity, access = self.entity(page), self.access
        by_day_view = self.request.GET.get("view") == "day"
        try:
            start = dt.date.fromisoformat(self.request.GET.get("day" if by_day_view else "week", ""))
        except ValueError:
            start = timezone.localdate()
        if not by_day_view:
            start -= dt.timedelta(days=start.weekday())
        span = 1 if by_day_view else 7
        days = [start + dt.timedelta(days=i) for i in range(span)]
        f = entity.field(page.date_field)
        lookup = f"{f.name}__date__range" if f.type is FieldType.DATETIME else f"{f.name}__range"
        refs = [n for n in access.visible_fields(entity.name) if entity.field(n).type is FieldType.REF][:2]
        rows = access.queryset(entity.name).filter(**{lookup: (days[0], days[-1])}).order_by(f.name)
        rows = rows.select_related(*refs)
        detail = self.site.detail_page(access, entity.name) or page
        by_day = {day: [] for day in days}
        visible = access.visible_fields(entity.name)
        for row in rows:
            value = getattr(row, f.name)
            day = timezone.localtime(value).date() if f.type is FieldType.DATETIME else value
            by_day.setdefault(day, []).append({"title": row_title(row, entity, visible), "when": display(row, f),
                                               "url": reverse("page-row", args=[detail.name, row.pk])})
        context = self.context(page, days=[(d, by_day[d]) for d in days], today=timezone.localdate(),
                               day_view=by_day_view, start=start.isoformat(),
                               previous=(start - dt.timedelta(days=span)).isoformat(),
                               next=(start + dt.timedelta(days=span)).isoformat())
        return render(self.request, self.built, "calendar.html", context)


class FormView(CabinetView):
    """Create (``p/<page>/new/``) or edit (``p/<page>/<pk>/edit/``) a row of the page's entity."""

    def setup_form(self, page_name, pk):
        page = self.page_or_404(page_name)
        if not page.entity:
            raise Http404
        entity, access = self.entity(page), self.access
        action = "update" if pk else "create"
        obj = access.get(entity.name, pk, "update") if pk else None
        if obj is None:
            access.require(entity.name, "create")
        editable = access.editable_fields(entity.name, action)
        names = [n for n in (page.fields if page.kind == "form" and page.fields else editable) if n in editable]
        if not names:
            raise Http404
        form_class = forms.modelform_factory(self.built.model(entity.name), fields=names,
                                             formfield_callback=html5_widget)
        return page, entity, obj, form_class, action

    def scoped(self, form):
        entity = form._meta.model.spec.name
        for name, field in form.fields.items():
            if getattr(field, "queryset", None) is not None:
                field.queryset = self.access.ref_choices(entity, name)  # the API's rule too
        return form

    def get(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        return self.show(spec, entity, obj, self.scoped(form_class(instance=obj)))

    def post(self, request, page, pk=None):
        spec, entity, obj, form_class, action = self.setup_form(page, pk)
        form = self.scoped(form_class(request.POST, request.FILES, instance=obj))
        if not form.is_valid():
            return self.show(spec, entity, obj, form, status=400)
        with transaction.atomic():
            row = form.save(commit=False)
            if action == "create":
                for name, value in self.access.resolved_forced(entity.name).items():
                    setattr(row, name, value)
            row.save()
            form.save_m2m()
            webhooks.emit(self.built, entity.name, action, row)
        messages.success(request, _("Saved."))
        target = self.site.row_page(self.access, entity.name)
        return redirect("page-row", target.name if target else spec.name, row.pk)

    def show(self, page, entity, obj, form, status=200):
        title = row_title(obj, entity, self.access.visible_fields(entity.name)) if obj else label(page.title,
                                                                                                   self.built)
        context = self.context(page, entity=entity, obj=obj, form=form, title=title)
        return render(self.request, self.built, "form.html", context, status=status)


class TransitionView(CabinetView):
    def post(self, request, page, pk, transition):
        spec = self.page_or_404(page)
        if not spec.entity or transition not in transitions_of(self.built.spec, spec.entity):
            raise Http404
        obj = self.access.get(spec.entity, pk, transition)
        fire(self.access, spec.entity, obj, transition)
        if getattr(request, "htmx", False):
            # An inline button: the list reloads its rows in place (it listens for 'cabinet-changed').
            response = HttpResponse(status=204)
            response["HX-Trigger"] = "cabinet-changed"
            return response
        messages.success(request, _("Done."))
        return redirect("page-row", page, pk)


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_lazy("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_lazy("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_lazy("Email"), required=False)
    phone = forms.RegexField(label=_lazy("Phone"), regex=PHONE_RE, max_length=32, required=False)


class ProfileView(CabinetView):
    """The user's own name, contact details, password, language, notification channels and API tokens."""

    def get(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        return self.show(ProfileForm(initial=self.details_of(request.user)), PasswordChangeForm(request.user))

    @staticmethod
    def details_of(user):
        from ..models import UserPreference

        prefs = UserPreference.objects.filter(user=user).first()
        return {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
                "phone": prefs.phone if prefs else ""}

    def post(self, request):
        if not request.user.is_authenticated:
            raise LoginRequired
        from knox.models import AuthToken

        from ..models import UserPreference

        user = request.user
        details, password = ProfileForm(initial={}), PasswordChangeForm(user)
        status = 200
        if "save_details" in request.POST:
            details = ProfileForm(request.POST)
            if details.is_valid():
                data = dict(details.cleaned_data)
                UserPreference.objects.update_or_create(user=user, defaults={"phone": data.pop("phone")})
                for key, value in data.items():
                    setattr(user, key, value)
                user.save(update_fields=list(data))
                messages.success(request, _("Saved."))
                return redirect("profile")
            status = 400
        elif "change_password" in request.POST:
            password = PasswordChangeForm(user, request.POST)
            if password.is_valid():
                password.save()
                update_session_auth_hash(request, password.user)
                messages.success(request, _("Your password was changed."))
                return redirect("profile")
            status = 400
        elif "save_notifications" in request.POST:
            prefs, _created = UserPreference.objects.get_or_create(user=user)
            prefs.channels = [c for c in request.POST.getlist("channels") if c in dict(UserPreference.CHANNELS)]
            prefs.save(update_fields=["channels"])
            messages.success(request, _("Saved."))
            return redirect("profile")
        elif "new_token" in request.POST:
            _instance, token = AuthToken.objects.create(user)
            messages.success(request, _("New API token (shown once): %(token)s") % {"token": token})
            return redirect("profile")
        elif "revoke_token" in request.POST:
            AuthToken.objects.filter(user=user, token_key=request.POST.get("revoke_token", "")).delete()
            messages.success(request, _("Token revoked."))
            return redirect("profile")
        if status == 400 and not details.is_bound:
            details = ProfileForm(initial=self.details_of(user))
        return self.show(details, password, status)

    def show(self, details, password, status=200):
        from knox.models import AuthToken

        from ..models import UserPreference

        prefs = UserPreference.objects.filter(user=self.request.user).first()
        context = self.context(
            None, details=details, password=password, page_title=_("Profile"),
            channels=[(key, name, key in (prefs.channels if prefs else ["email"]))
                      for key, name in UserPreference.CHANNELS],
            tokens=AuthToken.objects.filter(user=self.request.user).order_by("-created"),
        )
        return render(self.request, self.built, "profile.html", context, status=status)


# --- installable app (PWA) ---------------------------------------------------------------------

def manifest(request, built):
    spec = built.spec
    branding = dict(spec.branding)
    name = spec.label.get(get_language(), spec.default_language)
    data = {
        "name": name, "short_name": name[:12], "start_url": "/", "scope": "/", "display": "standalone",
        "lang": get_language(), "theme_color": branding.get("primary", "#0b6e4f"),
        "background_color": "#ffffff",
        "icons": [{"src": reverse("icon", args=[size]), "sizes": f"{size}x{size}", "type": "image/png",
                   "purpose": "any maskable"} for size in (192, 512)],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@cache_control(no_cache=True)
def service_worker(request, built):
    """The service worker: caches the app shell, shows the offline page when the network is gone."""
    shell = [reverse("offline"), static("cabinet/cabinet.css"), static("cabinet/vendor/htmx-2.0.11.min.js"),
             reverse("manifest")]
    body = render_to_string("default/cabinet/sw.js", {"shell": json.dumps(shell), "version": built.number})
    response = HttpResponse(body, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


def offline(request, built):
    spec = built.spec
    context = {"solution_label": spec.label.get(get_language(), spec.default_language),
               "branding": dict(spec.branding)}
    return render(request, built, "offline.html", context)


@cache_control(max_age=86400, public=True)
def icon(request, built, size):
    """A square app icon in the brand colour with the solution's initial (Pillow)."""
    from PIL import Image, ImageDraw, ImageFont

    if size not in (192, 512, 180, 32):
        raise Http404
    spec = built.spec
    image = Image.new("RGB", (size, size), dict(spec.branding).get("primary", "#0b6e4f"))
    letter = (spec.label.get(spec.default_language) or spec.name)[:1].upper()
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(size * 0.55))
    draw.text((size / 2, size / 2), letter, fill="#ffffff", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG")
    return HttpResponse(out.getvalue(), content_type="image/png")
