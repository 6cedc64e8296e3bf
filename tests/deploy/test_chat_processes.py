"""Two web processes of the Procfile (gunicorn + uvicorn workers) on PostgreSQL and Redis deliver chat events
to each other's clients: a guest streaming from web A receives, within a second, what an operator posts
through web B, and the other way round; a client that reconnects to the other process with its
Last-Event-ID catches up from the database; a client that goes away is offline at once.
"""
from __future__ import annotations

import json
import sys
import threading
import time

import redis
import requests

from tests.chat_fixtures import write_solution
from tests.deploy.stack import HTTPS, wait_until
from tests.deploy.webstack import NEEDS_STACK, REDIS_URL, released_stack, start_webs

pytestmark = NEEDS_STACK

# Run by `manage.py shell`: the users, the guest's conversation and a logged-in session for each user.
SETUP = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from engine.chat import service
from engine.registry import registry
from tests.chat_fixtures import login_session

users = get_user_model().objects
guest = users.create_user("stackguest", password=None)
guest.groups.add(Group.objects.get(name="guest"))
operator = users.create_user("stackoperator", password=None)
operator.groups.add(Group.objects.get(name="reception"))
built = registry.ensure_current()
conversation = service.start(built.policy.for_user(users.get(pk=guest.pk)), "reception")
print("SETUP " + json.dumps({"conversation": conversation.pk, "guest": login_session(guest),
                             "operator": login_session(operator), "guest_id": guest.pk}))
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
    solution = write_solution(tmp_path / "solution", "chatstack")
    figures, listeners = {}, []
    # A pool far smaller than the streams opened at once below: a stream must never hold its request's
    # connection while it waits for another (that deadlocked the pool at 200 streams).
    with released_stack(tmp_path, "chatstack", solution, WEB_CONCURRENCY="1", CABINET_DB_POOL="2",
                        CABINET_EXTRA_URLCONF="tests.deploy.chat_post") as stack:
        try:
            setup = stack.run([sys.executable, "manage.py", "shell", "-c", SETUP])
            assert setup.returncode == 0, setup.stdout + setup.stderr
            ids = json.loads(next(line for line in setup.stdout.splitlines() if line.startswith("SETUP "))[6:])
            conversation = ids["conversation"]
            bases = start_webs(stack)

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
