"""The hand-written counterpart of the generated ``purchase`` list and detail pages, for ``bench/pages.py``.

Plain Django function views as a developer would write them for "the signed-in user's purchases":
``login_required``, ``Purchase.objects.filter(user=request.user).select_related("user", "shop")`` with the
model's ordering, ``Paginator(...).get_page(...)`` for the list, ``get_object_or_404`` for the detail,
and Django templates (a base layout with a top bar, the user menu, a nav list of a few links and
the messages; a table; a definition list) that show the same columns with the same localized
formatting as the generated pages (``floatformat:"2g"`` for money, ``date:"SHORT_DATETIME_FORMAT"``
for datetimes: both end in ``django.utils.formats`` like ``engine.pages.display``).

The templates are held in this module and served by a ``DjangoTemplates`` backend of their own
(the project's context processors, the cached loader over a locmem loader): the same engine and
the same per-request work as ``render(request, "purchases/list.html", ...)`` on template files.

The model is built at run time from the published YAML, so it is looked up when a request comes
(``apps.get_model``). The benchmark serves this module beside the generated URLs with
``CABINET_EXTRA_URLCONF=bench.pages_handwritten``: ``/hand/purchases/?size=N&page=P`` and
``/hand/purchase/<id>/``, through the same middleware as the generated ``/p/...`` pages.
"""
from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.backends.django import DjangoTemplates
from django.urls import path

SIZES = (10, 50, 100)
CURRENCY = "EUR"
NAV = [(10, "Purchases ×10"), (50, "Purchases ×50"), (100, "Purchases ×100")]

TEMPLATES = {
    "hand/base.html": """\
{% load i18n static %}<!doctype html>
<html lang="{{ LANGUAGE_CODE|default:'en' }}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{% block title %}{{ title }} · Pages bench{% endblock %}</title>
  <link rel="stylesheet" href="{% static 'cabinet/cabinet.css' %}">
</head>
<body>
<a class="skip" href="#main">{% translate "Skip to content" %}</a>
<header class="topbar">
  <a class="brand" href="/"><span>Pages bench</span></a>
  <details class="user-menu">
    <summary>{{ user.get_full_name|default:user.username }}</summary>
    <ul>
      <li><a href="{% url 'profile' %}">{% translate "Profile" %}</a></li>
      <li><form class="language" method="post" action="{% url 'set_language' %}">{% csrf_token %}
        <input type="hidden" name="next" value="{{ request.get_full_path }}">
        <select name="language" onchange="this.form.submit()"><option value="en" selected>English</option></select>
      </form></li>
      <li><form method="post" action="{% url 'logout' %}">{% csrf_token %}
        <button class="link" type="submit">{% translate "Log out" %}</button>
      </form></li>
    </ul>
  </details>
</header>
<div class="layout">
  <nav class="sidebar" aria-label="{% translate 'Main menu' %}">
    <ul>
      {% for size, label in nav %}
      <li><a href="{% url 'hand-purchases' %}?size={{ size }}"
             {% if size == current %} aria-current="page"{% endif %}>{{ label }}</a></li>
      {% endfor %}
      <li><a href="{% url 'page' 'help' %}">Help</a></li>
    </ul>
  </nav>
  <main id="main">
    {% if messages %}<div class="messages" role="status">
      {% for m in messages %}<p class="msg {{ m.tags }}">{{ m }}</p>{% endfor %}
    </div>{% endif %}
    {% block content %}{% endblock %}
  </main>
</div>
</body>
</html>
""",
    "hand/purchase_list.html": """\
{% extends "hand/base.html" %}{% load i18n %}
{% block content %}
<div class="page-head"><h1>{{ title }}</h1></div>
{% if page_obj %}
<div class="table-wrap">
<table class="list">
  <thead><tr>
    <th scope="col">Title</th><th scope="col">Status</th><th scope="col">Price</th>
    <th scope="col">Created</th><th scope="col">Owner</th><th scope="col">City</th>
  </tr></thead>
  <tbody>{% for o in page_obj %}
    <tr>
      <td data-label="Title"><a href="{% url 'hand-purchase' o.pk %}">{{ o.title|default:"—" }}</a></td>
      <td data-label="Status">{{ o.get_status_display }}</td>
      <td data-label="Price">{{ o.price|floatformat:"2g" }} {{ currency }}</td>
      <td data-label="Created">{{ o.created|date:"SHORT_DATETIME_FORMAT" }}</td>
      <td data-label="Owner">{{ o.user }}</td>
      <td data-label="City">{% if o.shop.open %}{{ o.shop.city }}{% endif %}</td>
    </tr>
  {% endfor %}</tbody>
</table>
</div>
{% if page_obj.has_other_pages %}
<nav class="pager" aria-label="{% translate 'Pages' %}">
  {% if page_obj.has_previous %}
    <a href="?size={{ size }}&amp;page={{ page_obj.previous_page_number }}">{% translate "Previous" %}</a>
  {% endif %}
  <span>{% blocktranslate with number=page_obj.number total=page_obj.paginator.num_pages %}Page {{ number }} of {{ total }}{% endblocktranslate %}</span>
  {% if page_obj.has_next %}
    <a href="?size={{ size }}&amp;page={{ page_obj.next_page_number }}">{% translate "Next" %}</a>
  {% endif %}
</nav>
{% endif %}
{% else %}
<p class="empty">No purchases yet.</p>
{% endif %}
{% endblock %}
""",  # noqa: E501 - a template tag cannot wrap
    "hand/purchase_detail.html": """\
{% extends "hand/base.html" %}
{% block content %}
<div class="page-head"><h1>{{ purchase.title }}</h1></div>
<section class="card">
  <h2>Purchase</h2>
  <dl class="fields">
    <div><dt>Title</dt><dd>{{ purchase.title|default:"—" }}</dd></div>
    <div><dt>Status</dt><dd>{{ purchase.get_status_display|default:"—" }}</dd></div>
    <div><dt>Quantity</dt><dd>{{ purchase.qty|floatformat:"g" }}</dd></div>
    <div><dt>Price</dt><dd>{{ purchase.price|floatformat:"2g" }} {{ currency }}</dd></div>
    <div><dt>Created</dt><dd>{{ purchase.created|date:"SHORT_DATETIME_FORMAT" }}</dd></div>
    <div><dt>Owner</dt><dd>{{ purchase.user }}</dd></div>
    <div><dt>City</dt><dd>{% if purchase.shop.open and purchase.shop.city %}{{ purchase.shop.city }}{% else %}—{% endif %}</dd></div>
  </dl>
</section>
{% endblock %}
""",  # noqa: E501 - a template tag cannot wrap
}

ENGINE = DjangoTemplates({
    "NAME": "bench-pages-handwritten", "DIRS": [], "APP_DIRS": False,
    "OPTIONS": {
        "context_processors": settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
        "loaders": [("django.template.loaders.cached.Loader", [("django.template.loaders.locmem.Loader", TEMPLATES)])],
    },
})


def render(request, name, context):
    return HttpResponse(ENGINE.get_template(name).render(context, request))


def purchase_model():
    return apps.get_model("cabinet", "purchase")


@login_required
def purchase_list(request):
    try:
        size = int(request.GET.get("size", 10))
    except ValueError:
        size = 10
    size = size if size in SIZES else 10
    purchases = purchase_model()._default_manager.filter(user=request.user).select_related("user", "shop")
    page_obj = Paginator(purchases, size).get_page(request.GET.get("page"))
    return render(request, "hand/purchase_list.html", {
        "title": dict(NAV)[size], "page_obj": page_obj, "size": size, "currency": CURRENCY,
        "nav": NAV, "current": size,
    })


@login_required
def purchase_detail(request, pk):
    purchases = purchase_model()._default_manager.select_related("user", "shop")
    purchase = get_object_or_404(purchases, pk=pk, user=request.user)
    return render(request, "hand/purchase_detail.html", {
        "title": purchase.title, "purchase": purchase, "currency": CURRENCY, "nav": NAV, "current": None,
    })


urlpatterns = [
    path("hand/purchases/", purchase_list, name="hand-purchases"),
    path("hand/purchase/<int:pk>/", purchase_detail, name="hand-purchase"),
]
