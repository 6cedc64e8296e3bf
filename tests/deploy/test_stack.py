"""The production stack of the Procfile on loopback: two gunicorn masters, a Celery worker and beat.

Shows what the deployment promises: a publish made by a separate ``cabinet migrate`` process is
served by the web processes within a second; a webhook is delivered by the worker; a worker killed
(SIGKILL) while it posts a webhook loses nothing, the next worker delivers it.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import requests

from tests.deploy.stack import HTTPS, ROOT, Receiver, children, received_tasks, wait_until
from tests.deploy.webstack import NEEDS_STACK, released_stack, start_webs

pytestmark = NEEDS_STACK

PUBLISHES = 3
VISIBILITY_TIMEOUT = 4  # seconds: how soon the killed worker's task goes to the next worker


def add_room_field(folder, name):
    """Add an optional string field ``name`` to the room entity of the resort copy in ``folder``."""
    path = folder / "entities.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    room = lines.index("  room:\n")
    fields = next(i for i in range(room, len(lines)) if lines[i] == "    fields:\n")
    lines.insert(fields + 1, f"      {name}: {{type: string, max_length: 20}}\n")
    path.write_text("".join(lines), encoding="utf-8")


def write_solution(folder, hook_url, fields=()):
    """A copy of the resort with a webhook on room creation and the extra room ``fields``."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(ROOT / "solutions" / "resort", folder)
    (folder / "webhooks.yaml").write_text(
        f"webhooks:\n  stack_rooms:\n    entity: room\n    on: [create]\n    url: {hook_url}\n", encoding="utf-8")
    for name in fields:
        add_room_field(folder, name)
    return folder


class Poller(threading.Thread):
    """Poll one room on a web process until its JSON shows ``field``; record when and every status."""

    def __init__(self, url, headers, field):
        super().__init__(daemon=True)
        self.url, self.headers, self.field = url, headers, field
        self.seen_at = self.seen_wall = None
        self.statuses = {}
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.seen_at is None:
            try:
                response = requests.get(self.url, headers=self.headers, timeout=5)
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
                continue
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200 and self.field in response.json():
                self.seen_at, self.seen_wall = time.monotonic(), time.time()
            time.sleep(0.01)


def publish(stack, folder, pollers):
    """Run ``cabinet migrate folder`` in its own process while ``pollers`` poll; return when it printed
    that it published (after its commit)."""
    for poller in pollers:
        poller.start()
    proc = subprocess.Popen([sys.executable, "manage.py", "cabinet", "migrate", str(folder)], cwd=ROOT,
                            env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    published_at, output = None, []
    # Reading stops at the end of its output: a hung migrate is killed rather than waited for forever.
    watchdog = threading.Timer(90, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("Published"):
                published_at = time.monotonic()
        assert proc.wait(timeout=60) == 0, "".join(output)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert published_at is not None, "".join(output)
    return published_at


def version_inserted_at(database_url, number):
    """When version ``number`` was written (inside its publish transaction), as a Unix time."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT created_at FROM engine_solutionversion WHERE number = %s", [number]).fetchone()
    assert row is not None, f"version {number} was not stored"
    return row[0].timestamp()


def kill_mid_delivery(stack, base, auth, receiver, number, kill):
    """Make a room ``number`` (its webhook is slow), ``kill`` while the worker waits for the answer, and
    return the seconds until the same delivery is posted again."""
    receiver.in_flight.clear()
    room = requests.post(f"{base}/api/room/", headers=auth, timeout=10, json={"number": number, "kind": "standard"})
    assert room.status_code == 201, room.text
    assert receiver.in_flight.wait(30), f"the worker never posted {number}"
    killed_at = time.monotonic()
    kill()
    wait_until(lambda: len(receiver.deliveries(number)) >= 2, 60, 0.1, f"{number} to be posted again")
    posts = receiver.deliveries(number)
    assert len({d for _, d in posts}) == 1, posts  # one event: every post carries the same delivery id
    return round(posts[1][0] - killed_at, 1)


def test_stack_publish_webhook_and_killed_worker(tmp_path):
    receiver = Receiver(delay=3.0)
    figures = {}
    password = secrets.token_urlsafe(12)
    started = time.monotonic()
    try:
        with released_stack(
                tmp_path, "stack", write_solution(tmp_path / "solution", receiver.url),
                CABINET_BEAT_SCHEDULE=str(tmp_path / "beat-schedule"), CABINET_WEBHOOK_ALLOW_PRIVATE="1",
                CABINET_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT), WEB_CONCURRENCY="2",
                CELERY_CONCURRENCY="1", DJANGO_SUPERUSER_PASSWORD=password) as stack:
            figures["release_s"] = stack.release_s  # the release step of the Procfile
            run_stack_checks(stack, receiver, password, figures, started, tmp_path)
    finally:
        sys.stderr.write("\nstack figures: " + json.dumps(figures, default=str) + "\n")
        receiver.close()


def run_stack_checks(stack, receiver, password, figures, started, tmp_path):
    """Publishes seen by both web processes, a webhook delivered, a killed worker's delivery redone."""
    database_url = stack.database_url
    admin = stack.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                       "--username", "stackadmin", "--email", "stack@example.com"])
    assert admin.returncode == 0, admin.stdout + admin.stderr
    bases = start_webs(stack)
    stack.start("worker")
    stack.start("beat")
    figures["stack_up_s"] = round(time.monotonic() - started, 1)

    token = requests.post(f"{bases['web_a']}/api/auth/token/", headers=HTTPS, timeout=10,
                          json={"username": "stackadmin", "password": password})
    assert token.status_code == 200, token.text
    auth = {**HTTPS, "Authorization": f"Token {token.json()['token']}"}

    # b. A webhook: the room made on web A is posted by the worker.
    posted = time.monotonic()
    room = requests.post(f"{bases['web_a']}/api/room/", headers=auth, timeout=10,
                         json={"number": "HOOK-1", "kind": "standard"})
    assert room.status_code == 201, room.text
    room_id = room.json()["id"]
    first = wait_until(lambda: receiver.deliveries("HOOK-1"), 30, what="the webhook of HOOK-1")
    figures["webhook_delivery_s"] = round(first[0][0] - posted, 2)

    # a. Publishes by a separate process, seen by both web processes.
    latencies = {"web_a": [], "web_b": []}
    since_insert = {"web_a": [], "web_b": []}
    statuses = {}
    for number in range(1, PUBLISHES + 1):
        fields = [f"probe_{i}" for i in range(1, number + 1)]
        folder = write_solution(tmp_path / f"v{number + 1}", receiver.url, fields)
        pollers = {web: Poller(f"{base}/api/room/{room_id}/", auth, fields[-1]) for web, base in bases.items()}
        published_at = publish(stack, folder, pollers.values())
        inserted = version_inserted_at(database_url, number + 1)
        for web, poller in pollers.items():
            poller.join(timeout=10)
            poller.stop.set()
            assert poller.seen_at is not None, (web, poller.statuses, poller.errors[-3:])
            latencies[web].append(round(max(poller.seen_at - published_at, 0.0), 3))
            since_insert[web].append(round(poller.seen_wall - inserted, 3))
            for status, count in poller.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
    figures["publish_to_served_s"] = latencies
    figures["version_insert_to_served_s"] = since_insert
    figures["poll_statuses"] = statuses
    for web, values in since_insert.items():  # the insert precedes the commit: an upper bound
        assert max(values) < 1.0, (web, values)
    schema = requests.get(f"{bases['web_b']}/api/schema/?format=json", headers=auth, timeout=30)
    assert schema.status_code == 200
    assert all(f"probe_{i}" in schema.text for i in range(1, PUBLISHES + 1))

    # c1. The worker's pool process dies (OOM killer) while it posts: the worker hands the task back.
    receiver.slow.update({"LOST-1", "KILL-1"})
    lost = kill_mid_delivery(stack, bases["web_a"], auth, receiver, "LOST-1",
                             lambda: [os.kill(pid, signal.SIGKILL) for pid in children(stack.pid("worker"))])
    figures["pool_process_killed_redelivered_after_s"] = lost
    tasks = received_tasks(stack.log("worker"))
    assert len(tasks) == len(set(tasks)) + 1, tasks  # the same task received again, not a new one

    # c2. The whole worker is killed while it posts: the next worker gets the task from the broker.
    killed = kill_mid_delivery(stack, bases["web_b"], auth, receiver, "KILL-1",
                               lambda: (stack.kill("worker"), stack.start("worker_2", process="worker")))
    figures["worker_killed_redelivered_after_s"] = killed
    tasks, again = received_tasks(stack.log("worker")), received_tasks(stack.log("worker_2"))
    assert again and again[0] == tasks[-1], (tasks, again)  # the broker's copy, not the sweeper's

    def rows():
        import psycopg

        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT payload->'data'->>'number', status, attempts "
                                "FROM engine_webhookdelivery ORDER BY id").fetchall()

    wait_until(lambda: all(status == "delivered" for _, status, _ in rows()), 15, 0.2, "delivered rows")
    figures["deliveries"] = rows()
    assert [number for number, _, _ in rows()] == ["HOOK-1", "LOST-1", "KILL-1"]
    assert len({d for _, d, _ in receiver.received}) == 3
    for process in ("web_a", "web_b", "worker_2", "beat"):
        assert stack.alive(process), (process, stack.log(process)[-2000:])
    figures["total_s"] = round(time.monotonic() - started, 1)
    figures["publish_median_s"] = statistics.median(latencies["web_a"] + latencies["web_b"])
