"""Two web processes of the Procfile (gunicorn + uvicorn workers) on PostgreSQL and Redis deliver chat events
to each other's clients: a guest streaming from web A receives, within a second, what an operator posts
through web B, and the other way round; a client that reconnects to the other process with its
Last-Event-ID catches up from the database; a client that goes away is offline at once.
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.deploy.stack import (
    HTTPS,
    Stack,
    drop_database,
    free_port,
    python_env,
    ready,
    recreate_database,
    wait_until,
    with_database,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not (DATABASE_URL.startswith("postgres") and REDIS_URL),
                       reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)"),
]

SOLUTION = {
    "solution.yaml": "solution:\n  name: chatstack\n  languages: [en]\n  default_language: en\n",
    "entities.yaml": "entities:\n  note:\n    fields:\n      text: {type: string, max_length: 80}\n",
    "roles.yaml": """\
roles:
  guest:
    entities:
      note: {actions: [list, view], scope: all}
  reception:
    staff: true
    entities:
      note: {actions: [list, view], scope: all}
""",
    "chats.yaml": """\
chats:
  reception:
    type: direct
    label: {en: Reception}
    clients: [guest]
    staff: [reception]
""",
}

# Run by `manage.py shell`: the users, the guest's conversation and a logged-in session for each user.
SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from engine.chat import service
from engine.registry import registry

users = get_user_model().objects
guest = users.create_user("stackguest", password=None)
guest.groups.add(Group.objects.get(name="guest"))
operator = users.create_user("stackoperator", password=None)
operator.groups.add(Group.objects.get(name="reception"))
built = registry.ensure_current()
conversation = service.start(built.policy.for_user(users.get(pk=guest.pk)), "reception")

def session(user):
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key

print("SETUP " + json.dumps({"conversation": conversation.pk, "guest": session(guest),
                             "operator": session(operator), "guest_id": guest.pk}))
"""


class Listener(threading.Thread):
    """Read one SSE stream; record each event with the time it arrived."""

    def __init__(self, url, session, last=None):
        super().__init__(daemon=True)
        self.url, self.session, self.last = url, session, last
        self.events, self.opened, self.status = [], threading.Event(), None
        self.response = None

    def run(self):
        headers = {**HTTPS, "Cookie": f"sessionid={self.session}", "Accept": "text/event-stream"}
        if self.last is not None:
            headers["Last-Event-ID"] = str(self.last)
        try:
            with requests.get(self.url, headers=headers, stream=True, timeout=(5, 60)) as response:
                self.response, self.status = response, response.status_code
                self.opened.set()
                fields = {}
                for line in response.iter_lines(decode_unicode=True):
                    if line:
                        key, _, value = line.partition(": ")
                        fields[key] = value
                    elif "data" in fields:
                        self.events.append((time.monotonic(), fields))
                        fields = {}
                    else:
                        fields = {}
        except (requests.RequestException, AttributeError):
            pass  # closed by the test
        finally:
            self.opened.set()

    def close(self):
        if self.response is not None:
            self.response.close()

    def texts(self):
        return [json.loads(f["data"])["data"]["text"] for _, f in self.events if f.get("event") == "message"]


def post(base, session, conversation, text):
    response = requests.post(f"{base}/chat-test/post/", headers={**HTTPS, "Cookie": f"sessionid={session}"},
                             data={"conversation": conversation, "text": text}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_two_processes_deliver_to_each_others_clients(tmp_path):
    name = (urlsplit(DATABASE_URL).path.lstrip("/") or "cabinet") + "_chatstack"
    database_url = with_database(DATABASE_URL, name)
    solution = tmp_path / "solution"
    solution.mkdir()
    for filename, text in SOLUTION.items():
        (solution / filename).write_text(text, encoding="utf-8")
    figures, stack, listeners = {}, None, []
    try:
        recreate_database(DATABASE_URL, name)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        env = python_env({
            "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "CABINET_PRODUCTION": "1",
            "SECRET_KEY": secrets.token_urlsafe(50), "SECURE_SSL_REDIRECT": "0",
            "CABINET_SOLUTION": str(solution), "STATIC_ROOT": str(tmp_path / "static"),
            "MEDIA_ROOT": str(tmp_path / "media"), "WEB_CONCURRENCY": "1",
            "CABINET_EXTRA_URLCONF": "tests.deploy.chat_post",
            # A pool far smaller than the streams opened at once below: a stream must never hold its
            # request's connection while it waits for another (that deadlocked the pool at 200 streams).
            "CABINET_DB_POOL": "2",
        })
        stack = Stack(env, tmp_path / "logs")
        release = stack.run(["/bin/sh", "-c", stack.commands["release"]], timeout=180)
        assert release.returncode == 0, release.stdout + release.stderr
        setup = stack.run([sys.executable, "manage.py", "shell", "-c", SETUP])
        assert setup.returncode == 0, setup.stdout + setup.stderr
        ids = json.loads(next(line for line in setup.stdout.splitlines() if line.startswith("SETUP "))[6:])
        conversation = ids["conversation"]

        bases = {}
        for web in ("web_a", "web_b"):
            port = free_port()
            stack.start(web, process="web", PORT=str(port))
            bases[web] = f"http://127.0.0.1:{port}"
        for web, base in bases.items():
            wait_until(lambda base=base: ready(base), 60, 0.2, f"{web} to answer")

        # The guest follows the conversation on A; the operator follows it on B.
        guest = Listener(f"{bases['web_a']}/chat/stream/?conversation={conversation}&last=0", ids["guest"])
        operator = Listener(f"{bases['web_b']}/chat/stream/?chat=reception&last=0", ids["operator"])
        listeners += [guest, operator]
        for listener in listeners:
            listener.start()
            assert listener.opened.wait(10) and listener.status == 200, listener.status
        time.sleep(0.5)  # the first heartbeat-free moment: both streams have subscribed and caught up

        delays = []
        for n in range(5):
            text = f"from B {n}"
            sent = time.monotonic()
            post(bases["web_b"], ids["operator"], conversation, text)
            arrived = wait_until(lambda text=text: next((t for t, f in guest.events if text in f["data"]), None),
                                 5, 0.005, f"{text!r} on web A")
            delays.append(arrived - sent)
            text = f"from A {n}"
            sent = time.monotonic()
            post(bases["web_a"], ids["guest"], conversation, text)
            arrived = wait_until(lambda text=text: next((t for t, f in operator.events if text in f["data"]), None),
                                 5, 0.005, f"{text!r} on web B")
            delays.append(arrived - sent)
        figures["post_to_other_process_s"] = [round(d, 3) for d in delays]
        assert max(delays) < 1.0, delays
        expected = [t for n in range(5) for t in (f"from B {n}", f"from A {n}")]
        wait_until(lambda: guest.texts() == expected and operator.texts() == expected, 5, 0.05, "every message")

        # Reconnecting to the other process with the id of the third event: the rest, from the database.
        third = guest.events[2][1]["id"]
        again = Listener(f"{bases['web_b']}/chat/stream/?conversation={conversation}", ids["guest"], last=third)
        listeners.append(again)
        again.start()
        wait_until(lambda: again.texts() == expected[3:], 5, 0.05, "the catch-up on web B")
        assert [f["id"] for _, f in again.events] == [f["id"] for _, f in guest.events[3:]]

        # Presence: the guest is online while a stream is open, and offline as soon as the last one closes
        # (the server notices the disconnect), not when the key would expire.
        online = redis.Redis.from_url(REDIS_URL)
        key = f":1:cabinet:chat:online:{ids['guest_id']}"
        assert online.exists(key)
        guest.close()
        again.close()
        wait_until(lambda: not online.exists(key), 5, 0.05, "the guest to be offline")

        # A burst: ten streams open at once on A (pool of 2 connections); every one opens and gets the next post.
        burst = [Listener(f"{bases['web_a']}/chat/stream/?conversation={conversation}", ids["guest"])
                 for _ in range(10)]
        listeners += burst
        for listener in burst:
            listener.start()
        for listener in burst:
            assert listener.opened.wait(20) and listener.status == 200, listener.status
        time.sleep(0.5)
        post(bases["web_b"], ids["operator"], conversation, "to everyone")
        wait_until(lambda: all(listener.texts() == ["to everyone"] for listener in burst), 5, 0.05,
                   "the post on every stream of the burst")
        for web in bases:
            assert stack.alive(web), stack.log(web)[-2000:]
    finally:
        sys.stderr.write("\nchat stack figures: " + json.dumps(figures) + "\n")
        for listener in listeners:
            listener.close()
        if stack is not None:
            stack.stop()
        drop_database(DATABASE_URL, name)
