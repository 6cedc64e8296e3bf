"""What the chat tests, the process tests and ``bench/chat.py`` share: the small reception solution, a
logged-in session made without a request, and the resort demo's people.

The reception solution: a direct chat ``reception`` (role ``guest`` are its clients, role ``reception``
answers) and, when asked for, a group chat ``lobby`` with one open channel ``hall``; one entity ``note`` so
that the roles have something to hold.
"""
from __future__ import annotations

import io

NOTE = "entities:\n  note:\n    fields:\n      text: {type: string, max_length: 80}\n"
ROLES = """\
roles:
  guest:
    entities:
      note: {actions: [list, view], scope: all}
  reception:
    staff: true
    entities:
      note: {actions: [list, view], scope: all}
"""
RECEPTION = """\
chats:
  reception:
    type: direct
    label: {en: Reception}
    clients: [guest]
    staff: [reception]
"""
LOBBY = """\
  lobby:
    type: group
    label: {en: Lobby}
    members: [guest]
    moderators: [reception]
    join: open
    channels:
      hall: {title: {en: Hall}}
"""


def reception_sources(name, *, lobby=False):
    """The reception solution as source files {file name: text} for ``compile_sources`` or a folder."""
    return {
        "solution.yaml": f"solution:\n  name: {name}\n  languages: [en]\n  default_language: en\n",
        "entities.yaml": NOTE,
        "roles.yaml": ROLES,
        "chats.yaml": RECEPTION + (LOBBY if lobby else ""),
    }


def reception_yaml(*, lobby=False):
    """The reception solution as one YAML text (the ``publish_yaml`` fixture adds the header)."""
    return NOTE + ROLES + RECEPTION + (LOBBY if lobby else "")


def write_solution(folder, name, *, lobby=False):
    """Write the reception solution into ``folder`` (made if missing); return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, text in reception_sources(name, lobby=lobby).items():
        (folder / filename).write_text(text, encoding="utf-8")
    return folder


def login_session(user):
    """The key of a new database session in which ``user`` is logged in (as ``login`` would leave it)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


# --- the resort demo's people (its seed data: two guests, reception, a manager) ---------------------

def seed_resort():
    """Load the resort's demo data (users and records, no stays of today) into the published resort."""
    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())


def user(username):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def api(username):
    """A REST client authenticated as ``username``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user(username))
    return client


def browser(username):
    """A page client logged in as ``username``."""
    from django.test import Client

    client = Client()
    client.force_login(user(username))
    return client


def png(name="photo.png", size=(8, 8)):
    """An uploaded PNG image (a real one: the chat finds the type from the bytes)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")
