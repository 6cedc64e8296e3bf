"""Hot reload across real processes: a server process keeps answering while other processes publish.

Three kinds of process, as in a deployment: ``cabinet migrate`` runs in its own process for every
publish, a threaded server process (``tests/engine/serve_probe.py``) serves the API with its own app
registry and cache, and this test process only speaks HTTP to it. Every field kind is written and
read back after each publish, and client threads keep reading and writing while the publishes land
(renames, drops, a new required field, a new optional string): no request may fail.
"""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import dj_database_url
import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = "solution:\n  name: probe\n  languages: [en]\n"
ROLES = """
roles:
  staff:
    entities:
      tag: {actions: [list, view, create, update], scope: all}
      item: {actions: [list, view, create, update], scope: all}
"""
TAG = """
  tag:
    title: name
    fields:
      name: {type: string, required: true}
"""
ITEM = """
  item:
    title: name
    fields:
      name: {type: string, required: true}
      k_string: string
      k_text: text
      k_markdown: markdown
      k_integer: integer
      k_decimal: decimal
      k_money: money
      k_boolean: boolean
      k_date: date
      k_datetime: datetime
      k_time: time
      k_choice: {type: choice, choices: [a, b]}
      k_email: email
      k_phone: phone
      k_url: url
      k_image: image
      k_file: file
      k_json: json
      k_ref: {type: ref, to: tag}
      k_user: {type: ref, to: user}
      k_refs: {type: refs, to: tag}
      note: string
      old_size: integer
"""
KINDS = ["string", "text", "markdown", "integer", "decimal", "money", "boolean", "date", "datetime", "time",
         "choice", "email", "phone", "url", "image", "file", "json", "ref", "user", "refs"]
# Each step is published by its own process while the server still runs the step before.
STEPS = [
    ("add an optional string", lambda t: t.replace("      note: string\n", "      note: string\n      extra: string\n")),
    ("add a required field with a default",
     lambda t: t.replace("      note: string\n", "      note: string\n      level: {type: integer, required: true, "
                         "default: 1}\n")),
    ("rename a field", lambda t: t.replace("      note: string\n", "      remark: {type: string, renamed_from: note}\n")),
    ("drop a field", lambda t: t.replace("      old_size: integer\n", "")),
    ("rename the refs target's title field",
     lambda t: t.replace("    title: name\n    fields:\n      name: {type: string, required: true}\n  item:",
                         "    title: label\n    fields:\n      label: {type: string, required: true, renamed_from: name}"
                         "\n  item:")),
]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==")


def solution(text):
    return HEADER + "entities:" + text + ROLES


class Deployment:
    """A database of its own, a server process and ``cabinet migrate`` processes."""

    def __init__(self, tmp_path, backend):
        self.tmp = tmp_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
        env.update(CABINET_API_RATE_USER="1000000/minute", CABINET_VERSION_TTL="0.5", DEBUG="0")
        if backend == "postgres":
            url = dj_database_url.parse(os.environ["DATABASE_URL"])
            self.pg_name = f"{url['NAME']}_proc"
            self.recreate(url)
            env["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{self.pg_name}"
        else:
            self.pg_name = None
            env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'proc.sqlite3'}"
            env["REDIS_URL"] = ""  # the local-memory cache: the version TTL bounds the delay
        self.env = env
        self.server = None
        self.version = 0

    def recreate(self, url):
        import psycopg

        admin = f"postgresql://{url['USER']}@{url['HOST']}:{url['PORT'] or 5432}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {self.pg_name}")
        self.admin = admin

    def publish(self, text, *flags):
        self.version += 1
        folder = self.tmp / f"v{self.version}"
        folder.mkdir()
        (folder / "solution.yaml").write_text(text)
        result = subprocess.run([sys.executable, "manage.py", "cabinet", "migrate", str(folder), *flags], cwd=ROOT,
                                env=self.env, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def start(self):
        self.server = subprocess.Popen([sys.executable, "-m", "tests.engine.serve_probe", "staff"], cwd=ROOT,
                                       env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.server.stdout.readline()
        assert line, self.server.stderr.read()
        info = json.loads(line)
        self.base, self.token, self.user = f"http://127.0.0.1:{info['port']}", info["token"], info["user"]

    def request(self, method, path, payload=None, files=None):
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        body = None
        if files:
            boundary = uuid.uuid4().hex
            parts = []
            for key, value in payload.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
            for key, (filename, content) in files.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                             f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310 (loopback URL of the test)
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")[:2000]

    def stop(self):
        if self.server:
            self.server.terminate()
            self.server.wait(timeout=30)
            errors = self.server.stderr.read()
            self.server.stderr.close()
            self.server.stdout.close()
            return errors
        return ""

    def drop(self):
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


def every_kind(d, tag_id):
    return {"name": "all kinds", "k_string": "s", "k_text": "t", "k_markdown": "*m*", "k_integer": 5,
            "k_decimal": "1.50", "k_money": "2.00", "k_boolean": True, "k_date": "2026-01-31",
            "k_datetime": "2026-01-31T10:00:00Z", "k_time": "10:30:00", "k_choice": "b", "k_email": "a@example.com",
            "k_phone": "+1 555 0100", "k_url": "https://example.com", "k_json": {"k": [1, 2]}, "k_ref": tag_id,
            "k_user": d.user, "k_refs": [tag_id]}


def check_kinds(d, tag_id, reference, tally):
    """Write every kind and read it back through the server; count attempts and failures per kind."""
    status, row = d.request("POST", "/api/item/", every_kind(d, tag_id))
    status_files, files_row = (0, None)
    if status == 201:
        status_files, files_row = d.request("PATCH", f"/api/item/{row['id']}/", {"name": "files"},
                                            files={"k_image": ("a.png", PNG), "k_file": ("a.txt", b"text")})
    status_read, read = d.request("GET", f"/api/item/{row['id']}/") if status == 201 else (0, None)
    status_list, listed = d.request("GET", "/api/item/?page_size=100")
    for kind in KINDS:
        key = f"k_{kind}"
        attempt = tally.setdefault(kind, [0, 0, []])
        attempt[0] += 1
        if kind in ("image", "file"):
            ok = status_files == 200 and status_read == 200 and bool(read[key]) and bool(files_row[key])
        else:
            ok = status == 201 and status_read == 200 and status_list == 200 and read[key] == reference[key]
        if not ok:
            attempt[1] += 1
            attempt[2].append((status, status_files, status_read, status_list, read if status_read == 200 else row))
    return row


class Hammer:
    """Client threads that read and write through the server until stopped; every answer is kept."""

    def __init__(self, d, tag_id, threads=4):
        self.d, self.tag_id, self.stop_flag = d, tag_id, threading.Event()
        self.statuses, self.created, self.errors = [], [], []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def run(self, n):
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            try:
                if i % 3 == 0:
                    status, body = self.d.request("POST", "/api/item/", {"name": f"h{n}-{i}", "k_refs": [self.tag_id],
                                                                         "k_ref": self.tag_id, "k_integer": i})
                    if status == 201:
                        self.created.append(body["id"])
                elif i % 3 == 1:
                    status, body = self.d.request("GET", "/api/item/?page_size=50")
                else:
                    status, body = self.d.request("GET", f"/api/tag/{self.tag_id}/")
                self.statuses.append(status)
                if status not in (200, 201):
                    self.errors.append((status, str(body)[:500]))
            except OSError as exc:  # a dropped connection is a failure too, never a silent pass
                self.statuses.append(-1)
                self.errors.append((-1, repr(exc)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"


def run_deployment(tmp_path, backend):
    d = Deployment(tmp_path, backend)
    text = solution(TAG + ITEM)
    server_errors = ""
    try:
        d.publish(text)  # a fresh database: Django's own tables come first
        d.start()
        status, tag = d.request("POST", "/api/tag/", {"name": "red"})
        assert status == 201, tag
        status, first = d.request("POST", "/api/item/", every_kind(d, tag["id"]))
        assert status == 201, first
        status, reference = d.request("GET", f"/api/item/{first['id']}/")
        assert status == 200, reference
        tally = {}
        check_kinds(d, tag["id"], reference, tally)
        with Hammer(d, tag["id"]) as hammer:
            for _, step in STEPS:
                time.sleep(0.3)
                text = step(text)
                d.publish(text, "--allow-data-loss")
                check_kinds(d, tag["id"], reference, tally)  # at once: the server may still be on the old one
                time.sleep(0.6)
                check_kinds(d, tag["id"], reference, tally)
        status, rows = d.request("GET", "/api/item/?page_size=1")
        assert status == 200
        return d, tally, hammer, rows["count"]
    finally:
        server_errors = d.stop()
        d.drop()
        d.server_errors = server_errors


def assert_clean(d, tally, hammer, count, backend):
    failures = {kind: (a, f, details[:2]) for kind, (a, f, details) in tally.items() if f}
    summary = {kind: f"{a}/{f}" for kind, (a, f, _) in tally.items()}
    print(f"\n[{backend}] hot reload per kind (attempts/failures): {summary}")  # noqa: T201
    print(f"[{backend}] concurrent requests during {len(STEPS)} publishes: {len(hammer.statuses)}, "  # noqa: T201
          f"failed: {len(hammer.errors)}, 5xx: {sum(1 for s in hammer.statuses if s >= 500)}, answered again "
          f"after a publish broke them: {d.server_errors.count('answering it again')}")
    assert failures == {}
    assert hammer.errors == [], d.server_errors[-8000:]
    assert len(hammer.statuses) > 50, "the clients barely ran"
    assert "Traceback" not in d.server_errors, d.server_errors[-3000:]
    # Every row a client was told was created is there (no write lost or doubled by a retry).
    assert count == len(hammer.created) + 1 + sum(a for a, _, _ in tally.values()) // len(KINDS)


def test_hot_reload_and_publishes_under_load_sqlite(tmp_path):
    d, tally, hammer, count = run_deployment(tmp_path, "sqlite")
    assert_clean(d, tally, hammer, count, "sqlite")


@pytest.mark.postgres
def test_hot_reload_and_publishes_under_load_postgres(tmp_path):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    d, tally, hammer, count = run_deployment(tmp_path, "postgres")
    assert_clean(d, tally, hammer, count, "postgres")
