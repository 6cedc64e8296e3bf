"""The builder's shell through HTTP: who may enter, the overview, drafts (start, edit in one, discard),
the draft bar, the problems page and the YAML editor."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from engine.builder import drafts
from engine.builder.models import Draft

ENTITIES = "entities.yaml"


@pytest.fixture
def boss(solution):
    """A superuser signed in to a fresh client, with the resort published as version 1."""
    user = get_user_model().objects.create_superuser("boss", password="pw-boss-12345")
    client = Client()
    client.force_login(user)
    return user, client


def builder_user(name, grant):
    user = get_user_model().objects.create_user(name, password="pw-12345-user")
    if grant:
        user.user_permissions.add(Permission.objects.get(codename="use_builder", content_type__app_label="engine"))
    return user


def text(response):
    return response.content.decode()


def test_anonymous_users_go_to_the_login_page(solution, client):
    response = client.get("/builder/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/builder/"


def test_a_user_without_the_builder_permission_is_refused_and_one_holding_it_enters(solution, client):
    client.force_login(builder_user("plain", grant=False))
    assert client.get("/builder/").status_code == 403
    assert client.post("/builder/drafts/new/").status_code == 403
    assert not Draft.objects.exists()
    client.force_login(builder_user("admin", grant=True))
    response = client.get("/builder/")
    assert response.status_code == 200
    assert "Published version" in text(response) and "v1" in text(response)
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_overview_shows_the_published_version_open_drafts_and_how_to_start(boss):
    user, client = boss
    draft = drafts.start(user, title="Allergies")
    page = text(client.get("/builder/"))
    assert "v1" in page and "All versions" in page
    assert f'href="/builder/d/{draft.pk}/"' in page and "Allergies" in page
    assert 'action="/builder/drafts/new/"' in page
    assert 'href="/builder/import/"' in page
    for section in ("entities", "roles", "pages", "workflows", "branding", "history", "audit"):
        assert f'href="/builder/{section}/"' in page


def test_starting_a_draft_needs_the_csrf_token_and_answers_303(boss):
    user, _ = boss
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/builder/drafts/new/", {"title": "x"}).status_code == 403
    assert not Draft.objects.exists()
    client.get("/builder/")
    token = client.cookies["csrftoken"].value
    response = client.post("/builder/drafts/new/", {"title": "Spa menu", "csrfmiddlewaretoken": token})
    draft = Draft.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/"
    assert (draft.title, draft.base, draft.status, draft.created_by) == ("Spa menu", 1, Draft.OPEN, user)
    assert client.get("/builder/drafts/new/").status_code == 405


def test_edit_in_a_draft_continues_the_newest_open_draft_or_starts_one(boss):
    user, client = boss
    response = client.post("/builder/edit/", {"to": "entities/guest/"})
    first = Draft.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{first.pk}/entities/guest/"
    again = client.post("/builder/edit/", {"to": "roles/"})
    assert again["Location"] == f"/builder/d/{first.pk}/roles/"
    assert Draft.objects.count() == 1
    refused = client.post("/builder/edit/", {"to": "//evil.example/"})
    assert refused.status_code == 400 and "That is not a builder section." in text(refused)


def test_the_draft_page_and_bar_show_edits_problems_and_staleness(boss):
    user, client = boss
    draft = drafts.start(user)
    drafts.apply(draft, {"op": "add_field", "entity": "guest", "name": "allergies", "type": "text",
                         "label": {"en": "Allergies", "ru": "Аллергии"}}, user)
    page = text(client.get(f"/builder/d/{draft.pk}/"))
    assert f"Draft #{draft.pk}" in page and "from v1" in page
    assert "add field guest.allergies" in page
    assert "No problems" in page and "Stale" not in page
    for link in ("problems/", "yaml/", "plan/", "preview/", "discard/"):
        assert f'href="/builder/d/{draft.pk}/{link}"' in page
    # Another admin publishes meanwhile: the draft is now stale, and says so.
    other = drafts.start(user)
    drafts.apply(other, {"op": "add_field", "entity": "room", "name": "outlook", "type": "string",
                         "label": {"en": "Outlook"}}, user)
    plan = drafts.plan(other)
    drafts.publish(other, user, "room view", plan.digest, set())
    page = text(client.get(f"/builder/d/{draft.pk}/"))
    assert "Stale: v2 is published" in page
    assert "Version 2 was published after this draft was started from version 1" in page


def test_discarding_asks_first_then_drops_the_draft(boss):
    user, client = boss
    draft = drafts.start(user)
    ask = client.get(f"/builder/d/{draft.pk}/discard/")
    assert ask.status_code == 200 and "Discard the draft" in text(ask)
    response = client.post(f"/builder/d/{draft.pk}/discard/")
    assert response.status_code == 303 and response["Location"] == "/builder/"
    draft.refresh_from_db()
    assert draft.status == Draft.DISCARDED
    assert client.get(f"/builder/d/{draft.pk}/").status_code == 404


BROKEN = "  broken:\n    fields:\n      price: {type: monye, label: Price}\n"


def test_the_yaml_editor_saves_a_text_with_an_error_and_shows_the_located_problem(boss):
    user, client = boss
    draft = drafts.start(user)
    original = draft.sources[ENTITIES]
    assert original.startswith("entities:\n")
    page = text(client.get(f"/builder/d/{draft.pk}/yaml/?file={ENTITIES}"))
    assert "solution.yaml" in page and "roles.yaml" in page  # the file picker
    assert "Full name" in page  # the text in the textarea
    # A browser sends CRLF; the draft keeps LF.
    posted = ("entities:\n" + BROKEN + original[len("entities:\n"):]).replace("\n", "\r\n")
    response = client.post(f"/builder/d/{draft.pk}/yaml/", {"path": ENTITIES, "text": posted})
    assert response.status_code == 303
    assert response["Location"] == f"/builder/d/{draft.pk}/yaml/?file={ENTITIES}"
    draft.refresh_from_db()
    assert draft.sources[ENTITIES] == "entities:\n" + BROKEN + original[len("entities:\n"):]
    assert draft.edits[-1]["op"] == "set_file"
    page = text(client.get(response["Location"]))
    problem = next(p for p in drafts.check(draft).errors if p.loc.file == ENTITIES)
    assert problem.loc.line == 4
    assert f"{ENTITIES}:4:{problem.loc.column}" in page
    assert "monye" in page
    assert re.search(r'<li id="L4" class="b-line-bad">', page)
    assert "1 error" in page  # the draft bar counts it
    # Saving the same text again records no edit.
    edits = len(draft.edits)
    again = client.post(f"/builder/d/{draft.pk}/yaml/", {"path": ENTITIES, "text": posted})
    assert again.status_code == 303
    draft.refresh_from_db()
    assert len(draft.edits) == edits


def test_the_yaml_editor_refuses_a_bad_path_beside_the_text_and_changes_nothing(boss):
    user, client = boss
    draft = drafts.start(user)
    before = dict(draft.sources)
    response = client.post(f"/builder/d/{draft.pk}/yaml/", {"path": "../etc/passwd", "text": "x: 1\n"})
    assert response.status_code == 400
    assert "Not saved" in text(response)
    draft.refresh_from_db()
    assert draft.sources == before and draft.edits == []


def test_the_problems_page_lists_each_problem_with_its_place(boss):
    user, client = boss
    draft = drafts.start(user)
    drafts.set_file(draft, ENTITIES, draft.sources[ENTITIES].replace("type: email", "type: emial", 1), user)
    page = text(client.get(f"/builder/d/{draft.pk}/problems/"))
    problem = next(p for p in drafts.check(draft).errors)
    assert problem.id in page and "emial" in page
    assert f'href="/builder/d/{draft.pk}/yaml/?file={ENTITIES}#L{problem.loc.line}"' in page
    clean = drafts.start(builder_user("other", grant=True))
    assert "No problems found" in text(client.get(f"/builder/d/{clean.pk}/problems/"))
