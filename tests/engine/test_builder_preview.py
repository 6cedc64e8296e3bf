"""The builder's preview: a draft's cabinet as a role, rendered against current data, with nothing kept."""
import html as entities
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from engine.builder import preview as previews
from engine.builder.models import Draft
from engine.models import SolutionVersion

ALLERGIES = "      allergies: {type: text, label: {en: Allergies, ru: Аллергии}}\n"


@pytest.fixture
def resort(solution):
    """The resort with its demo data (anna and boris are guests; reception, manager, admin)."""
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def with_allergies(sources):
    """The resort's files with a guest field 'allergies' that guests may see and edit."""
    changed = dict(sources)
    entities = changed["entities.yaml"]
    anchor = "      loyalty_points: {type: integer, default: 0, min: 0, label: {en: Loyalty points, ru: Бонусные баллы}}\n"
    assert anchor in entities
    changed["entities.yaml"] = entities.replace(anchor, anchor + ALLERGIES, 1)
    roles = changed["roles.yaml"]
    for old in ("view: [full_name, email, phone, language, loyalty_points]", "edit: [full_name, email, phone, language]"):
        assert old in roles
        roles = roles.replace(old, old[:-1] + ", allergies]", 1)
    changed["roles.yaml"] = roles
    return changed


def make_draft(sources, user=None):
    current = SolutionVersion.objects.order_by("-number").first()
    return Draft.objects.create(base=current.number, sources=sources, origin="builder", created_by=user)


def text(response):
    return entities.unescape(response.content.decode())


def columns(table):
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table)]


def admin_client(client):
    assert client.login(username="admin", password="admin-demo")
    return client


def anna_guest(resort):
    return resort.model("guest").objects.get(user__username="anna")


def test_a_draft_that_adds_a_field_shows_it_and_nothing_persists(resort, client):
    admin_client(client)
    draft = make_draft(with_allergies(resort.sources))
    guest = anna_guest(resort)
    anna = get_user_model().objects.get(username="anna")
    tables_before = sorted(connection.introspection.table_names())
    guest_columns = columns("cabinet_guest")
    rows_before = list(resort.model("guest").objects.order_by("pk").values())

    base = f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/"
    form = client.get(f"{base}p/my_details/{guest.pk}/edit/")
    html = form.content.decode()
    assert form.status_code == 200
    assert 'name="allergies"' in html and ">Allergies<" in html
    assert f"Preview of draft #{draft.pk} as role Guest (anna)" in html
    assert "1 schema step applied in a transaction that is rolled back" in html
    # Links stay inside the preview; the form has no action, so it would post to the preview (refused).
    assert '<form class="card form" method="post"' in html and 'action="/p/' not in html
    assert f'href="{base}p/home/"' in html and 'href="/p/home/"' not in html
    detail = client.get(f"{base}p/my_details/{guest.pk}/").content.decode()
    assert "Allergies" in detail and guest.full_name in detail

    assert "allergies" not in columns("cabinet_guest") and columns("cabinet_guest") == guest_columns
    assert sorted(connection.introspection.table_names()) == tables_before
    assert list(resort.model("guest").objects.order_by("pk").values()) == rows_before
    live = client.get(f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/p/my_details/{guest.pk}/edit/")
    assert live.status_code == 200  # the same preview again: the plan runs again on an unchanged schema
    client.logout()
    assert client.login(username="anna", password="anna-demo")
    assert "allergies" not in client.get(f"/p/my_details/{guest.pk}/edit/").content.decode()  # the live site


def test_a_preview_refuses_posts_and_changes_nothing(resort, client):
    admin_client(client)
    draft = make_draft(with_allergies(resort.sources))
    guest = anna_guest(resort)
    anna = get_user_model().objects.get(username="anna")
    url = f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/p/my_details/{guest.pk}/edit/"
    answer = client.post(url, {"full_name": "Changed", "allergies": "nuts"})
    assert answer.status_code == 405 and answer["Allow"] == "GET, HEAD"
    assert "The preview is read-only" in text(answer)
    guest.refresh_from_db()
    assert guest.full_name != "Changed" and "allergies" not in columns("cabinet_guest")


def test_a_role_without_access_gets_what_that_role_would_get(resort, client):
    admin_client(client)
    draft = make_draft(dict(resort.sources))
    anna = get_user_model().objects.get(username="anna")
    reception = get_user_model().objects.get(username="reception")
    denied = client.get(f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/p/guests/")
    assert denied.status_code == 404
    assert "As guest (anna) this page answers 404: the role cannot open it." in text(denied)
    allowed = client.get(f"/builder/d/{draft.pk}/preview/reception/{reception.pk}/p/guests/")
    assert allowed.status_code == 200 and "Anna" in allowed.content.decode()
    # A user must hold the role they are shown as.
    wrong = client.get(f"/builder/d/{draft.pk}/preview/reception/{anna.pk}/p/guests/")
    assert wrong.status_code == 400
    assert f"User #{anna.pk} does not hold the role 'reception'" in text(wrong)
    assert client.get(f"/builder/d/{draft.pk}/preview/nobody/").status_code == 404


def test_the_role_alone_picks_its_first_holder_and_home_redirects_inside(resort, client):
    admin_client(client)
    draft = make_draft(dict(resort.sources))
    anna = get_user_model().objects.get(username="anna")
    first = client.get(f"/builder/d/{draft.pk}/preview/guest/")
    assert first.status_code == 302 and first["Location"] == f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/"
    home = client.get(first["Location"])
    assert home.status_code == 302 and home["Location"] == f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/p/home/"
    page = client.get(home["Location"])
    assert page.status_code == 200 and "My stay" in page.content.decode()
    chooser = text(client.get(f"/builder/d/{draft.pk}/preview/"))
    assert f'href="/builder/d/{draft.pk}/preview/guest/{anna.pk}/"' in chooser
    assert client.get(f"/builder/d/{draft.pk}/preview/?role=guest&username=boris").status_code == 302
    assert client.get(f"/builder/d/{draft.pk}/preview/?role=guest&username=reception").status_code == 400


def test_a_page_outside_the_cabinet_or_a_broken_draft_is_not_previewed(resort, client):
    admin_client(client)
    anna = get_user_model().objects.get(username="anna")
    draft = make_draft(dict(resort.sources))
    api = client.get(f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/api/guest/")
    assert api.status_code == 404 and "is not a cabinet page of the draft" in text(api)
    broken = dict(resort.sources)
    broken["entities.yaml"] = broken["entities.yaml"].replace("type: integer, default: 0, min: 0", "type: integr", 1)
    bad = make_draft(broken)
    answer = client.get(f"/builder/d/{bad.pk}/preview/guest/{anna.pk}/p/home/")
    assert answer.status_code == 409 and "The draft has errors" in text(answer)
    assert re.search(r"entities\.yaml:\d+:\d+", text(answer))


def test_the_preview_needs_the_builder_permission(resort, client):
    draft = make_draft(dict(resort.sources))
    assert client.login(username="reception", password="reception-demo")
    assert client.get(f"/builder/d/{draft.pk}/preview/guest/").status_code == 403
    client.logout()
    assert client.get(f"/builder/d/{draft.pk}/preview/guest/").status_code == 302  # to the login page


def test_a_plan_that_cannot_run_on_the_data_is_reported(resort, client):
    """Making a field unique over duplicate values fails in the database: the preview says so, located."""
    admin_client(client)
    Guest = resort.model("guest")
    Guest.objects.filter(user__username="boris").update(phone="+100")
    Guest.objects.filter(user__username="anna").update(phone="+100")
    sources = dict(resort.sources)
    sources["entities.yaml"] = sources["entities.yaml"].replace(
        "phone: {type: phone, label", "phone: {type: phone, unique: true, label", 1)
    draft = make_draft(sources)
    anna = get_user_model().objects.get(username="anna")
    answer = client.get(f"/builder/d/{draft.pk}/preview/guest/{anna.pk}/p/home/")
    assert answer.status_code == 409
    assert "The draft's plan cannot run on the current data" in text(answer)
    assert Guest.objects.filter(phone="+100").count() == 2


def test_builds_are_kept_per_sources_and_bounded(resort):
    first = make_draft(dict(resort.sources))
    same = make_draft(dict(resort.sources))
    assert previews.build_for(first) is previews.build_for(same)
    for n in range(previews.KEPT_BUILDS + 1):
        sources = dict(resort.sources)
        sources["extra.yaml"] = f"# note {n}\n"
        previews.build_for(make_draft(sources))
    assert len(previews._builds) == previews.KEPT_BUILDS


def test_links_of_the_drafts_site_move_inside_the_preview(resort):
    build = previews.build_for(make_draft(dict(resort.sources)))
    html = ('<a href="/p/home/?x=1">h</a> <a href="/static/a.css">s</a> <form action="/p/services/"></form> '
            '<a href="/builder/">b</a> <button hx-post="/p/my_orders/3/do/cancel/">c</button> <a href="//evil/p/home/">e</a>')
    out = previews.rewrite_links(html, build, "/pre/")
    assert out == ('<a href="/pre/p/home/?x=1">h</a> <a href="/static/a.css">s</a> <form action="/pre/p/services/">'
                   '</form> <a href="/builder/">b</a> <button hx-post="/pre/p/my_orders/3/do/cancel/">c</button> '
                   '<a href="//evil/p/home/">e</a>')
