"""Chat benchmark: connected SSE clients on loopback, from a post to its arrival at the other side.

The small reception solution of ``tests/chat_fixtures.py`` (a direct chat ``reception``: role ``guest`` are
the clients, role ``reception`` answers; a group chat ``lobby`` with one channel ``hall``) is published into
a fresh database:
the one of ``DATABASE_URL`` when it is set (PostgreSQL; with ``REDIS_URL`` too; the servers pool their
connections, ``CABINET_DB_POOL=20``), else a temporary SQLite file with the in-process hub. ``--clients``
guests (default 200) each open a stream on server A (``uvicorn engine.asgi:application``, one process) over
their own loopback connection, with their session cookie.

An operator posts through ``engine.chat.service.post`` behind a small view (``tests/deploy/chat_post.py``,
mounted with ``CABINET_EXTRA_URLCONF``): on server B when ``REDIS_URL`` is set (a second uvicorn process:
the message travels through Redis pub/sub), else on server A. Two phases: *direct* (each guest follows
their own conversation; ``--posts`` messages round robin at ``--rate`` per second) and *broadcast* (every
guest follows the channel ``hall``; ``--broadcast-posts`` at ``--broadcast-rate``: each post reaches every
client). Latency is from just before the POST is sent to the moment its event is read off a client's
stream, on this process's clock: median (p50), p95 and max. Memory: the resident set (VmRSS) of server A
with no stream open, with every stream open, and after the posts. Target: p95 under 1 s with every message
delivered, in both phases.

Run from the project root:  .venv/bin/python bench/chat.py [--clients 200] [--posts 400] [--rate 20]
(``DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_chat REDIS_URL=redis://127.0.0.1:6379/14`` for the
two-process run; the database named there is dropped and created).
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from common import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
TARGET_P95_MS = 1000.0
SERVER_START_TIMEOUT_S = 60.0

def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def environment(database_url, redis_url):
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "engine.settings", "DATABASE_URL": database_url, "DEBUG": "0",
        "CABINET_EXTRA_URLCONF": "tests.deploy.chat_post", "CABINET_LOG_LEVEL": "ERROR",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    })
    env.pop("CABINET_PRODUCTION", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def prepare(clients):
    """Migrate, publish, make the guests, the operator, the conversations and a session for each user."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from engine.chat import service
    from engine.compiler import compile_sources
    from engine.migrate import publish
    from tests.chat_fixtures import login_session, reception_sources

    sources = reception_sources("chatbench", lobby=True)
    call_command("migrate", verbosity=0)
    built, _ = publish(compile_sources(sources).raise_for_errors(), sources, note="chat bench")
    users = get_user_model().objects
    users.bulk_create([get_user_model()(username=f"guest{n}", password=make_password(None)) for n in range(clients)])
    guests = list(users.filter(username__startswith="guest").order_by("id"))
    Group.objects.get(name="guest").user_set.add(*guests)
    operator = users.create(username="operator", password=make_password(None))
    operator.groups.add(Group.objects.get(name="reception"))

    conversations = [service.start(built.policy.for_user(guest), "reception").pk
                     for guest in get_user_model().objects.filter(pk__in=[g.pk for g in guests]).order_by("id")]
    hall = service.channel(built.policy.for_user(operator), "lobby", "hall").pk
    return [login_session(g) for g in guests], conversations, hall, login_session(operator)


def start_server(env, port, log):
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter running uvicorn
            [sys.executable, "-m", "uvicorn", "engine.asgi:application", "--host", HOST, "--port", str(port),
             "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {Path(log).read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/accounts/login/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s")


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """One SSE client: its stream of one conversation; when each bench message arrived."""

    def __init__(self, port, session, conversation, arrivals):
        self.port, self.session, self.conversation, self.arrivals = port, session, conversation, arrivals
        self.connected = asyncio.Event()
        self.status = None

    async def run(self):
        reader, writer = await asyncio.open_connection(HOST, self.port)
        writer.write((f"GET /chat/stream/?conversation={self.conversation} HTTP/1.1\r\nHost: {HOST}\r\n"
                      f"Cookie: sessionid={self.session}\r\nAccept: text/event-stream\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split()[1])
        if self.status != 200:
            self.connected.set()
            writer.close()
            return
        try:
            while True:
                line = (await reader.readline()).decode().rstrip("\r\n")
                if not line and reader.at_eof():
                    return
                if line.startswith("retry:"):
                    self.connected.set()
                elif line.startswith("data: "):
                    event = json.loads(line[6:])
                    text = (event.get("data") or {}).get("text", "")
                    if event.get("kind") == "message" and text.startswith("bench-"):
                        self.arrivals[int(text[6:])] = time.perf_counter()
        finally:
            writer.close()


def poster(port, session, conversations, posts, rate, sent, post_ms, errors):
    """Post ``posts`` messages at ``rate`` per second over one keep-alive connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Cookie": f"sessionid={session}", "Content-Type": "application/x-www-form-urlencoded"}
    start = time.perf_counter()
    for n in range(posts):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = urlencode({"conversation": conversations[n % len(conversations)], "text": f"bench-{n}"})
        sent[n] = time.perf_counter()
        conn.request("POST", "/chat-test/post/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        post_ms.append((time.perf_counter() - sent[n]) * 1000)
        if response.status != 200:
            errors.append(f"{response.status}: {data[:200]!r}")
    conn.close()


async def measure(port_a, port_b, sessions, streams, targets, posts, rate, operator, server_a):
    """Open one stream per session (of ``streams[i]``), post ``posts`` messages to ``targets`` (round robin)
    at ``rate``; return the figures. Every client expects the messages of the conversation it follows."""
    sent, post_ms, errors = {}, [], []
    clients = [Client(port_a, s, c, {}) for s, c in zip(sessions, streams, strict=True)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(client.run()) for client in clients]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 120)
    connect_s = time.perf_counter() - started
    statuses = {}
    for client in clients:
        statuses[client.status] = statuses.get(client.status, 0) + 1
    await asyncio.sleep(1.0)
    rss_connected = rss_mb(server_a.pid)
    thread = threading.Thread(target=poster, args=(port_b, operator, targets, posts, rate, sent, post_ms, errors),
                              daemon=True)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.1)
    expected = {id(c): [n for n in range(posts) if targets[n % len(targets)] == c.conversation] for c in clients}
    deadline = time.perf_counter() + 5
    while (time.perf_counter() < deadline
           and any(len(c.arrivals) < len(expected[id(c)]) for c in clients)):
        await asyncio.sleep(0.05)
    rss_after = rss_mb(server_a.pid)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(c.arrivals[n] - sent[n]) * 1000 for c in clients for n in expected[id(c)]
                 if n in c.arrivals and n in sent]
    return {
        "clients": len(clients), "stream_statuses": statuses, "connect_all_s": round(connect_s, 2),
        "posts": posts, "rate_per_s": rate, "deliveries_expected": sum(len(v) for v in expected.values()),
        "delivered": len(latencies), "post_errors": errors[:5],
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "post_request_p50_ms": round(percentile(post_ms, 50), 1) if post_ms else None,
        "rss_connected_mb": round(rss_connected, 1), "rss_after_mb": round(rss_after, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="posts per second")
    parser.add_argument("--broadcast-posts", type=int, default=40,
                        help="then: posts to one group channel that every client follows (0: skip)")
    parser.add_argument("--broadcast-rate", type=float, default=2.0)
    parser.add_argument("--no-json", action="store_true")
    args = parser.parse_args()

    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    tmp = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    if database_url.startswith("postgres"):
        from common import recreate_database

        name = urlsplit(database_url).path.strip("/")
        recreate_database(name)
        mode = "PostgreSQL" + (" + Redis, streams on A, posts through B" if redis_url else ", one process")
    else:
        database_url = f"sqlite:///{tmp / 'chat.sqlite3'}"
        redis_url = ""
        mode = "SQLite, one process (in-process hub)"
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    env = environment(database_url, redis_url)
    if database_url.startswith("postgres"):
        # 200 streams opening at once each hold a connection while their sync part runs: pooled (at most
        # 20 per process) they wait for one instead of passing PostgreSQL's max_connections (100).
        env.setdefault("CABINET_DB_POOL", "20")
    os.environ.update(env)
    if not redis_url:
        os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    print(f"chat bench: {mode}; {args.clients} clients, {args.posts} posts at {args.rate}/s")
    t0 = time.perf_counter()
    sessions, conversations, hall, operator = prepare(args.clients)
    print(f"prepared in {time.perf_counter() - t0:.1f} s")
    from django.db import connections

    connections.close_all()
    servers = []
    try:
        port_a = free_port()
        servers.append(start_server(env, port_a, tmp / "server_a.log"))
        port_b = port_a
        if redis_url:
            port_b = free_port()
            servers.append(start_server(env, port_b, tmp / "server_b.log"))
        rss_idle = rss_mb(servers[0].pid)
        results = {"direct": {"mode": mode, "rss_idle_mb": round(rss_idle, 1), **asyncio.run(measure(
            port_a, port_b, sessions, conversations, conversations, args.posts, args.rate, operator, servers[0]))}}
        if args.broadcast_posts:
            results["broadcast"] = asyncio.run(measure(
                port_a, port_b, sessions, [hall] * len(sessions), [hall], args.broadcast_posts, args.broadcast_rate,
                operator, servers[0]))
    finally:
        for proc in servers:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if database_url.startswith("postgres"):
            from common import drop_database

            drop_database(urlsplit(database_url).path.strip("/"))
    ok = True
    for phase, result in results.items():
        print(f"{phase}:" + (" one post reaches every client" if phase == "broadcast" else " one post, one client"))
        for key, value in result.items():
            print(f"  {key:24} {value}")
        met = (result["delivered"] == result["deliveries_expected"] and not result["post_errors"]
               and result["p95_ms"] is not None and result["p95_ms"] < TARGET_P95_MS)
        print(f"  target p95 < {TARGET_P95_MS:.0f} ms, every message delivered: {'met' if met else 'MISSED'}")
        ok = ok and met
    if not args.no_json:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "chat.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
