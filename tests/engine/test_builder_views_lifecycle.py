"""The builder's lifecycle views through HTTP: plan, confirmations, publish, rebase, history, diff, rollback,
import, export and the audit log."""
import html as entities
import io
import re
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from engine.builder import drafts
from engine.builder.models import BuilderLog, Draft
from engine.models import SolutionVersion
from engine.registry import registry

ALLERGIES = {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
             "label": {"en": "Allergies", "ru": "Аллергии"}}


@pytest.fixture
def resort(solution):
    """The resort published as version 1 with its demo data (admin is a superuser, reception is staff)."""
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


@pytest.fixture
def admin(resort, client):
    assert client.login(username="admin", password="admin-demo")
    return get_user_model().objects.get(username="admin")


def text(response):
    return entities.unescape(response.content.decode())


def columns(table):
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table)]


def plan_page(client, draft):
    answer = client.get(f"/builder/d/{draft.pk}/plan/")
    assert answer.status_code == 200
    return answer, re.search(r'name="digest" value="([0-9a-f]+)"', answer.content.decode()).group(1)


def publish(client, draft, digest, **extra):
    return client.post(f"/builder/d/{draft.pk}/publish/", {"digest": digest, **extra})


def test_a_safe_change_is_planned_published_and_served_without_a_restart(admin, client):
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    page, digest = plan_page(client, draft)
    body = text(page)
    assert "Field 'Allergies' (guest.allergies) added" in body  # in words
    assert re.search(r'b-step b-step-safe[^>]*>\s*<td data-label="Step">[^<]*allergies', body)
    assert 'name="confirm"' not in body and "Publish version 2" in body
    answer = publish(client, draft, digest, comment="Allergies for the kitchen")
    assert answer.status_code == 303 and answer["Location"] == "/builder/published/2/"
    assert registry.active.number == 2 and "allergies" in columns("cabinet_guest")
    version = SolutionVersion.objects.get(number=2)
    assert (version.note, version.created_by, version.origin) == ("Allergies for the kitchen", admin,
                                                                  f"builder:draft#{draft.pk}")
    done = text(client.get(answer["Location"]))
    assert "Version 2 is live" in done and "Allergies for the kitchen" in done
    log = BuilderLog.objects.get(action=BuilderLog.PUBLISH)
    assert (log.version, log.user, log.comment, log.draft_id) == (2, admin, "Allergies for the kitchen", draft.pk)
    assert client.get(f"/builder/d/{draft.pk}/plan/").status_code == 404  # a published draft is closed


def test_a_destructive_step_is_refused_without_its_checkbox_and_accepted_with_it(admin, client, resort):
    filled = resort.model("guest").objects.exclude(phone="").exclude(phone__isnull=True).count()
    assert filled > 0
    draft = drafts.apply(drafts.start(admin), {"op": "remove_field", "entity": "guest", "field": "phone"}, admin)
    page, digest = plan_page(client, draft)
    body = text(page)
    step = re.search(r'<tr class="b-step b-step-destructive" data-key="([^"]+)">(.*?)</tr>', body, re.S)
    assert step and "phone" in step.group(2)
    rows, values = re.findall(r'<td class="num" data-label="(?:Rows|Values)">(\d+)</td>', step.group(2))
    assert (int(rows), int(values)) == (resort.model("guest").objects.count(), filled)
    key = step.group(1)
    assert f'name="confirm" value="{key}"' in body
    assert f"{filled} stored value" in body  # the confirmation names what is lost

    refused = publish(client, draft, digest)
    assert refused.status_code == 409
    assert "Confirm every destructive step before publishing" in text(refused)
    assert 'aria-invalid="true"' in refused.content.decode()
    assert "phone" in columns("cabinet_guest") and SolutionVersion.objects.count() == 1
    assert BuilderLog.objects.filter(action=BuilderLog.REFUSED).count() == 1

    accepted = publish(client, draft, digest, confirm=key, comment="No more phones")
    assert accepted.status_code == 303
    assert "phone" not in columns("cabinet_guest") and SolutionVersion.objects.count() == 2


def test_publish_needs_the_csrf_token(admin, resort):
    strict = Client(enforce_csrf_checks=True)
    assert strict.login(username="admin", password="admin-demo")
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    digest = drafts.plan(draft).digest
    assert strict.post(f"/builder/d/{draft.pk}/publish/", {"digest": digest}).status_code == 403
    assert SolutionVersion.objects.count() == 1 and "allergies" not in columns("cabinet_guest")
    page = strict.get(f"/builder/d/{draft.pk}/plan/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    ok = strict.post(f"/builder/d/{draft.pk}/publish/", {"digest": digest, "csrfmiddlewaretoken": token})
    assert ok.status_code == 303 and SolutionVersion.objects.count() == 2


def test_a_changed_plan_is_refused(admin, client):
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    answer = publish(client, draft, "000000000000")
    assert answer.status_code == 409 and "The plan changed since it was shown" in text(answer)
    assert SolutionVersion.objects.count() == 1


def test_a_stale_draft_is_refused_with_who_published_what_and_then_rebased(admin, client):
    first = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    second = drafts.apply(drafts.start(admin), {"op": "update_field", "entity": "room", "field": "floor",
                                                "label": {"en": "Storey", "ru": "Этаж"}}, admin)
    _page, digest_second = plan_page(client, second)
    _page, digest = plan_page(client, first)
    assert publish(client, first, digest, comment="first").status_code == 303

    stale = text(client.get(f"/builder/d/{second.pk}/plan/"))
    assert "This draft is out of date" in stale
    assert "Version 2 was published by admin at" in stale and "(“first”)" in stale
    assert f'action="/builder/d/{second.pk}/rebase/"' in stale and "Publish version" not in stale
    refused = publish(client, second, digest_second)
    assert refused.status_code == 409
    assert "Version 2 was published by admin" in text(refused) and "rebase it first" in text(refused)
    assert SolutionVersion.objects.count() == 2

    rebased = client.post(f"/builder/d/{second.pk}/rebase/")
    assert rebased.status_code == 303 and rebased["Location"] == f"/builder/d/{second.pk}/plan/"
    second.refresh_from_db()
    assert second.base == 2 and "allergies" in second.sources["entities.yaml"]
    page, digest = plan_page(client, second)
    assert "out of date" not in text(page) and "Rebased onto version 2" in text(page)
    assert publish(client, second, digest).status_code == 303
    assert SolutionVersion.objects.count() == 3


def test_rollback_goes_through_the_plan_screen_and_restores_the_files(admin, client, resort):
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    _page, digest = plan_page(client, draft)
    publish(client, draft, digest)
    registry.active.model("guest").objects.filter(user__username="anna").update(allergies="nuts")
    answer = client.post("/builder/history/1/rollback/")
    rollback = Draft.objects.get(origin="rollback:v1")
    assert answer.status_code == 303 and answer["Location"] == f"/builder/d/{rollback.pk}/plan/"
    page, digest = plan_page(client, rollback)
    body = text(page)
    key = re.search(r'<tr class="b-step b-step-destructive" data-key="([^"]+)">', body).group(1)
    assert "allergies" in key and "Delete the 1 stored value" in body
    assert publish(client, rollback, digest).status_code == 409  # not without its confirmation
    assert publish(client, rollback, digest, confirm=key).status_code == 303
    assert SolutionVersion.objects.get(number=3).sources == SolutionVersion.objects.get(number=1).sources
    assert "allergies" not in columns("cabinet_guest")
    assert BuilderLog.objects.filter(action=BuilderLog.ROLLBACK, version=3).exists()
    assert client.post("/builder/history/3/rollback/").status_code == 303  # the live one: refused with a message
    assert "is the published version" in text(client.get("/builder/history/"))
    assert client.post("/builder/history/99/rollback/").status_code == 404


def test_history_lists_versions_and_diffs_them_side_by_side_and_in_words(admin, client):
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    _page, digest = plan_page(client, draft)
    publish(client, draft, digest, comment="Kitchen asked")
    history = text(client.get("/builder/history/"))
    assert re.search(r'<tr id="v2" class="b-current">.*?v2.*?admin.*?Kitchen asked.*?builder:draft#', history, re.S)
    assert '<tr id="v1">' in history and 'form="rollback-1"' in history and 'form="rollback-2"' not in history
    assert client.get("/builder/history/?a=1&b=2")["Location"] == "/builder/history/1/2/"

    diff = client.get("/builder/history/1/2/")
    body = text(diff)
    assert "Field 'Allergies' (guest.allergies) added" in body
    added = re.findall(r'<tr class="b-diff-added">\s*<td class="ln"></td>.*?<td class="ln">(\d+)</td>'
                       r'<td class="code r"><span class="b-sr">added: </span><pre>([^<]*)</pre>', body, re.S)
    line = SolutionVersion.objects.get(number=2).sources["entities.yaml"].splitlines().index(added[0][1]) + 1
    assert len(added) == 1 and "allergies" in added[0][1] and int(added[0][0]) == line
    assert "roles.yaml" not in body  # only changed files are shown
    same = text(client.get("/builder/history/2/2/"))
    assert "No change in the definitions." in same and "The files are identical." in same
    assert client.get("/builder/history/1/9/").status_code == 404


def test_export_is_byte_identical_to_what_was_published(admin, client):
    answer = client.get("/builder/export/1.zip")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    assert answer["Content-Disposition"] == 'attachment; filename="solution-v1.zip"'
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    published = SolutionVersion.objects.get(number=1).sources
    assert sorted(archive.namelist()) == sorted(published)
    for name, content in published.items():
        assert archive.read(name) == content.encode("utf-8")
    assert client.get("/builder/export/7.zip").status_code == 404


def test_import_of_the_unchanged_folder_shows_no_schema_change(admin, client, settings):
    settings.CABINET_SOLUTION = "solutions/resort"
    form = text(client.get("/builder/import/"))
    assert "solutions/resort" in form and 'action="/builder/import/"' in form
    answer = client.post("/builder/import/")
    draft = Draft.objects.get(origin="import:solutions/resort")
    assert answer.status_code == 303 and answer["Location"] == f"/builder/d/{draft.pk}/plan/"
    body = text(client.get(answer["Location"]))
    assert "No schema change" in body and "Nothing changes in the definitions." in body
    assert BuilderLog.objects.filter(action=BuilderLog.IMPORT, draft=draft).exists()


def test_import_of_a_missing_folder_is_refused_with_a_message(admin, client, settings, tmp_path):
    settings.CABINET_SOLUTION = str(tmp_path / "nowhere")
    answer = client.post("/builder/import/")
    assert answer.status_code == 400 and "Not imported." in text(answer)
    assert not Draft.objects.exists()


def test_a_draft_with_errors_shows_them_instead_of_a_plan(admin, client, resort):
    draft = drafts.set_file(drafts.start(admin), "entities.yaml",
                            resort.sources["entities.yaml"].replace("type: integer, default: 0, min: 0", "type: integr",
                                                                    1), admin)
    body = text(client.get(f"/builder/d/{draft.pk}/plan/"))
    assert "The draft has 1 error" in body and re.search(r"entities\.yaml:\d+:\d+", body)
    assert 'name="digest"' not in body
    assert publish(client, draft, "x").status_code == 400


def test_the_audit_log_lists_every_action(admin, client):
    draft = drafts.apply(drafts.start(admin), ALLERGIES, admin)
    publish(client, draft, "000000000000")
    _page, digest = plan_page(client, draft)
    publish(client, draft, digest, comment="second try")
    body = text(client.get("/builder/audit/"))
    assert body.index("b-audit-publish") < body.index("b-audit-refused")  # newest first
    assert "second try" in body and "The plan changed since it was shown" in body
    only = text(client.get("/builder/audit/?action=refused"))
    assert "b-audit-refused" in only and "b-audit-publish" not in only


@pytest.mark.parametrize(("method", "url"), [
    ("get", "/builder/d/{draft}/plan/"), ("post", "/builder/d/{draft}/publish/"), ("post", "/builder/d/{draft}/rebase/"),
    ("get", "/builder/import/"), ("post", "/builder/import/"), ("get", "/builder/export/1.zip"),
    ("get", "/builder/audit/"), ("get", "/builder/history/"), ("get", "/builder/history/1/1/"),
    ("post", "/builder/history/1/rollback/"), ("get", "/builder/d/{draft}/changes/"),
    ("get", "/builder/published/1/"),
])
def test_every_view_needs_the_builder_permission(resort, client, method, url):
    admin = get_user_model().objects.get(username="admin")
    draft = drafts.start(admin)
    target = url.format(draft=draft.pk)
    assert getattr(client, method)(target).status_code == 302  # anonymous: to the login page
    assert client.login(username="reception", password="reception-demo")
    assert getattr(client, method)(target).status_code == 403
    assert SolutionVersion.objects.count() == 1 and Draft.objects.count() == 1


def test_the_permission_can_be_granted_to_a_business_admin(resort, client):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.get(username="manager")
    user.user_permissions.add(Permission.objects.get(codename="use_builder"))
    assert client.login(username="manager", password="manager-demo")
    assert client.get("/builder/history/").status_code == 200
    assert client.get("/builder/audit/").status_code == 200
