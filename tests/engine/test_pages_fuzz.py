"""Hostile input on every page kind and every parameter, and on the Django admin's changelists.

Every request must answer 200, 204, 302 or a 4xx, never a 500 (PostgreSQL refuses NUL bytes in
strings, so run this module on both backends). Failures are collected and reported together.
"""
import collections
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from engine.fieldtypes import FieldType

NUL = "\x00"
# Values a client can send: NUL bytes, huge numbers, date extremes, unicode, long strings, odd signs.
HOSTILE = [
    NUL, f"a{NUL}b", "%00", "", " ", "-", "--", "0", "-1", "1e309", "NaN", "99999999999999999999",
    "9" * 5000, "0001-01-01", "9999-12-31", "10000-01-01", "0000-00-00", "9999-12-31T23:59",
    "0001-01-01T00:00", "2026-02-30", "ü漢字😀\u202e", "x" * 20000, "' OR 1=1 --", "[1,2]", "a,b",
    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
]
# The parameters each page kind reads (list filters are added per page); other kinds get a few anyway.
READS = {"list": ("q", "sort", "page"), "calendar": ("week", "day", "view")}
OTHERS = ("q", "page", "week", "o")
OK = {200, 204, 301, 302, 400, 403, 404, 405, 409}


@pytest.fixture
def resort(solution):
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


class Probe:
    """Send requests, count them, remember every answer outside ``OK`` (with the exception, if any)."""

    def __init__(self, username):
        self.client = Client(raise_request_exception=False)
        self.client.force_login(get_user_model().objects.get(username=username))
        self.attempts, self.failures = 0, []
        self.by_kind = collections.Counter()  # probe class -> attempts (reported as junit properties)

    def check(self, kind, method, url, data=None, **headers):
        self.attempts += 1
        self.by_kind[kind] += 1
        response = getattr(self.client, method)(url, data, **headers)
        if response.status_code not in OK:
            exc = getattr(response, "exc_info", None)
            self.failures.append((kind, method, url, repr(data)[:120], response.status_code,
                                  f"{exc[0].__name__}: {str(exc[1])[:100]}" if exc else ""))
        return response

    def assert_clean(self, record_property):
        for kind, attempts in sorted(self.by_kind.items()):
            record_property(f"attempts {kind}", attempts)
        if self.failures:
            lines = "\n".join(map(repr, self.summary()))
            pytest.fail(f"{len(self.failures)} of {self.attempts} requests failed:\n{lines}", pytrace=False)

    def summary(self):
        """One line per distinct (method, parameter names, error), to read the failures at a glance."""
        return sorted({(kind, m, data[:40], error) for kind, m, _url, data, _status, error in self.failures})


def page_params(page):
    """The query parameters a page of this kind reads (a list also reads its filters and their ranges), plus an
    unknown one."""
    ranges = [f"{name}_{suffix}" for name in page.filters for suffix in ("min", "max", "from", "to")]
    return [*READS.get(page.kind, OTHERS), *page.filters, *ranges, "unknown"]


def page_urls(page):
    """The URLs of a page that read query parameters: the page, and its exports."""
    return [f"/p/{page.name}/", *(f"/p/{page.name}/export/{fmt}/" for fmt in page.export)]


def sort_values(built, page):
    if page.kind != "list":
        return []
    names = [f.name for f in built.spec.entity(page.entity).fields] + [c for c in page.columns if "." in c]
    return [prefix + n for n in names for prefix in ("-", "--", "---", "+", " ", "")]


@pytest.mark.parametrize("username", ["anna", "reception", "admin"])
def test_no_page_parameter_gives_a_500(resort, username, record_property):
    built = resort
    probe = Probe(username)
    for page in built.spec.pages:
        url = f"/p/{page.name}/"
        for target in page_urls(page):
            kind = "export" if "/export/" in target else "page"
            for name in page_params(page):
                for value in HOSTILE:
                    probe.check(f"{kind} {name if name in READS.get(page.kind, OTHERS) else 'filter'}", "get",
                                target, {name: value})
            for value in sort_values(built, page):
                probe.check(f"{kind} sort", "get", target, {"sort": value})
            probe.check(f"{kind} repeated", "get", target, {"q": ["a", NUL, "b"], "sort": ["x", "--status"],
                                                             "week": ["9999-12-31", "x"],
                                                             **{f: ["1", NUL, "x"] for f in page_params(page)}})
        for value in HOSTILE[:12]:
            probe.check("page htmx", "get", url, {"q": value, "page": value}, HTTP_HX_REQUEST="true",
                        HTTP_HX_TARGET=value, HTTP_HX_CURRENT_URL=value)
        edges = ("9999-12-31", "0001-01-01", "9999-12-27", "0001-01-07") if page.kind == "calendar" else ()
        for view in ("day", "week", NUL, ""):
            for edge in edges:
                probe.check("page week/day", "get", url, {"view": view, "day": edge, "week": edge})
        if page.entity:
            for pk in ("0", "99999999999999999999", "9" * 40):
                probe.check("page row id", "get", f"/p/{page.name}/{pk}/", {"q": NUL})
    assert probe.attempts > 700
    probe.assert_clean(record_property)


def hostile_form_values(f):
    values = list(HOSTILE)
    if f.type in (FieldType.INTEGER, FieldType.DECIMAL, FieldType.MONEY):
        values += ["9223372036854775808", "-9223372036854775809", "1e18", "0.0000001", "Infinity"]
    if f.type is FieldType.JSON:
        values += ['{"a": "\\u0000"}', '"\\u0000"', "[" * 5000, '{"a": 1e999}']
    return values


@pytest.mark.parametrize("username", ["anna", "reception", "admin"])
def test_no_form_post_gives_a_500(resort, username, record_property):
    built = resort
    probe = Probe(username)
    access = built.policy.for_user(get_user_model().objects.get(username=username))
    seen = set()
    for page in built.spec.pages:
        # One page per entity is enough for the fields (every page of an entity builds the same form).
        if not page.entity or not built.pages.allowed(access, page) or page.entity in seen:
            continue
        seen.add(page.entity)
        entity = built.spec.entity(page.entity)
        rows = list(access.queryset(entity.name, "update").values_list("pk", flat=True)[:1])
        urls = [f"/p/{page.name}/new/"] + [f"/p/{page.name}/{pk}/edit/" for pk in rows]
        for url in urls:
            for f in entity.fields:
                for value in hostile_form_values(f):
                    probe.check(f"form {f.type.value}", "post", url, {f.name: value})
            probe.check("form repeated", "post", url, {f.name: [NUL, "1"] for f in entity.fields})
    for button in ("save_details", "change_password", "save_notifications", "revoke_token", "unknown"):
        names = ("old_password", "new_password1") if button == "change_password" else (
            "first_name", "email", "phone", "channels", "revoke_token")
        for name in names:
            for value in HOSTILE[:6] if button == "change_password" else HOSTILE:  # each checks a scrypt hash
                probe.check("profile", "post", "/accounts/profile/", {button: value, name: value})
    assert probe.attempts > 200
    probe.assert_clean(record_property)


@pytest.mark.parametrize("username", ["reception", "admin"])
def test_no_admin_changelist_parameter_gives_a_500(resort, username, record_property):
    built = resort
    probe = Probe(username)
    for entity in built.spec.entities:
        model = built.model(entity.name)
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        names = ["q", "o", "p", "e", "all", "_to_field", "_popup"]
        for f in entity.fields:
            names += [f"{f.name}__exact", f"{f.name}__isnull"]
        for name in names:
            for value in HOSTILE:
                kind = name if name in ("q", "o", "p") else "filter" if name.endswith(("__exact", "__isnull")) else "other"
                probe.check(f"admin {kind}", "get", url, {name: value})
        for f in entity.fields:  # lookups no list filter offers (refused: 'invalid lookup')
            for lookup in ("", "__in", "__gte", "__year", "__month", "__day", "__id__exact", "__startswith"):
                for value in (NUL, "99999999999999999999", "0", "-1", "0001-01-01", "9999-12-31"):
                    probe.check("admin lookup", "get", url, {f.name + lookup: value})
        probe.check("admin repeated", "get", url, {"q": [NUL, "a"], "o": ["1", "-1.-2"]})
        for order in ("-", "0", "1.1.1", "99", "-99", "1.x", "-0"):
            probe.check("admin o", "get", url, {"o": order})
    assert probe.attempts > 1000
    probe.assert_clean(record_property)
