"""Run the Procfile's processes on loopback for a test: own database, free ports, process groups.

Every process is started in its own session (process group), so stopping it stops its children
(gunicorn's and Celery's workers) too; ``Stack.stop`` is meant for a ``finally`` block.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
# Behind a TLS proxy in production: say the request came over HTTPS (SECURE_PROXY_SSL_HEADER).
HTTPS = {"X-Forwarded-Proto": "https"}


def procfile(path=ROOT / "Procfile"):
    """The Procfile's processes as {name: command}."""
    processes = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            processes[match.group(1)] = match.group(2)
    return processes


def free_port():
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url, name):
    """``url`` pointing at database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url, name):
    """Drop (forcing out any leftover connections) and create database ``name`` on ``url``'s server."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url, name):
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Stack:
    """Processes started from Procfile commands with one environment; logs go to files in ``logs``."""

    def __init__(self, env, logs):
        self.env = env
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.commands = procfile()
        self.processes = {}

    def start(self, name, process=None, **env):
        """Start the Procfile's ``process`` (default: ``name``) as ``name`` in its own process group."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop)
        proc = subprocess.Popen(["/bin/sh", "-c", "exec " + self.commands[process or name]], cwd=ROOT,
                                env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes[name] = (proc, log)
        return proc

    def run(self, args, timeout=120, **env):
        """Run a command to its end with the stack's environment; return the completed process."""
        return subprocess.run(args, cwd=ROOT, env={**self.env, **env}, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)

    def kill(self, name, sig=signal.SIGKILL):
        """Send ``sig`` to every process of ``name``'s group and wait for its leader."""
        proc, log = self.processes.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)
        log.close()
        return proc

    def stop(self):
        """Stop every process group (TERM, then KILL after 10 s); return the names that had died early."""
        died = [name for name, (proc, _) in self.processes.items() if proc.poll() is not None]
        for proc, _ in self.processes.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for proc, log in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group's other members (pool processes) may outlive the leader
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
            log.close()
        self.processes.clear()
        return died

    def log(self, name):
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def pid(self, name):
        return self.processes[name][0].pid

    def alive(self, name):
        return self.processes[name][0].poll() is None


def children(pid):
    """The ids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def received_tasks(log):
    """The ids of the webhook tasks a worker's log says it received, in order."""
    return re.findall(r"Task engine\.tasks\.deliver_webhook\[([0-9a-f-]+)\] received", log)


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns a true value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def ready(base):
    """Whether the web process at ``base`` is ready: its ``/readyz`` says so, or (where the project has
    no such endpoint) it answers its login page."""
    try:
        readyz = requests.get(f"{base}/readyz", headers=HTTPS, timeout=5)
        if readyz.status_code != 404:
            return readyz.status_code == 200
        return requests.get(f"{base}/accounts/login/", headers=HTTPS, timeout=5).status_code == 200
    except requests.RequestException:
        return False


class Receiver:
    """A webhook receiver on loopback: records every post (time, delivery id, event body) and answers
    204, after ``delay`` seconds for the deliveries listed in ``slow`` (their first post only)."""

    def __init__(self, delay=3.0):
        self.delay = delay
        self.slow = set()
        self.received = []
        self.in_flight = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers.get("X-Cabinet-Delivery")
                with receiver.lock:
                    first = all(d != delivery for _, d, _ in receiver.received)
                    receiver.received.append((time.monotonic(), delivery, body))
                if first and self.headers.get("X-Cabinet-Event") and receiver.slow_for(body):
                    receiver.in_flight.set()
                    time.sleep(receiver.delay)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the worker that sent it was killed meanwhile

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def slow_for(self, body):
        return any(marker.encode() in body for marker in self.slow)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def deliveries(self, marker):
        """The (time, delivery id) of every post whose body holds ``marker``."""
        with self.lock:
            return [(t, d) for t, d, body in self.received if marker.encode() in body]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def python_env(extra):
    """The environment for the stack's processes: this interpreter's scripts first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DEBUG"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
