"""The deployment files agree with each other: Procfile, compose.yaml, Dockerfile, Makefile, gunicorn.conf.py.

No Docker engine runs in the test environment: compose.yaml is checked as data (services, commands,
environment, health checks, start order) against the Procfile the stack test runs for real.
"""
import os
import re
import runpy
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.deploy.stack import ROOT, procfile

APP_SERVICES = ("release", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile():
    """The Dockerfile's instructions as (INSTRUCTION, argument) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_procfile_runs_release_web_worker_and_beat():
    processes = procfile()
    assert sorted(processes) == ["beat", "release", "web", "worker"]
    steps = [step.strip() for step in processes["release"].split("&&")]
    assert steps == ["python manage.py migrate --noinput", "python manage.py cabinet migrate",
                     "python manage.py collectstatic --noinput"]
    assert shlex.split(processes["web"])[0] == "gunicorn"
    assert shlex.split(processes["worker"])[:4] == ["celery", "-A", "engine", "worker"]
    assert shlex.split(processes["beat"])[:4] == ["celery", "-A", "engine", "beat"]


def test_compose_has_the_services_with_health_checks(compose):
    services = compose["services"]
    assert sorted(services) == ["beat", "postgres", "redis", "release", "web", "worker"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    assert services["web"]["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]


def test_compose_runs_the_procfile_commands(compose):
    processes = procfile()
    services = compose["services"]
    assert services["release"]["command"] == ["sh", "-c", processes["release"]]
    for name in ("web", "worker", "beat"):
        assert services[name]["command"] == processes[name], name


def test_compose_app_services_share_environment_and_start_order(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["DATABASE_URL"] == "postgres://cabinet:${POSTGRES_PASSWORD:-cabinet}@postgres:5432/cabinet"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["CABINET_PRODUCTION"] == "1"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "compose must refuse to start without SECRET_KEY"
        assert service["build"] == "." and service["image"] == "cabinet-builder:latest"
        depends = service["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}
        assert depends["redis"] == {"condition": "service_healthy"}
        if name != "release":
            assert depends["release"] == {"condition": "service_completed_successfully"}
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"]) == ("cabinet", "cabinet")
    assert services["release"]["restart"] == "no"


def test_dockerfile_slim_base_non_root_user_collectstatic_gunicorn():
    instructions = dockerfile()
    kinds = [kind for kind, _ in instructions]
    assert re.fullmatch(r"python:3\.\d+-slim", instructions[0][1]), instructions[0]
    runs = " ".join(arg for kind, arg in instructions if kind == "RUN")
    assert "pip install" in runs and "manage.py collectstatic --noinput" in runs
    users = [arg for kind, arg in instructions if kind == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert kinds.index("USER") > max(i for i, kind in enumerate(kinds) if kind == "RUN")
    cmd = dict(instructions)["CMD"]
    assert " ".join(yaml.safe_load(cmd)) == procfile()["web"]
    env = " ".join(arg for kind, arg in instructions if kind == "ENV")
    assert "GUNICORN_BIND=0.0.0.0:8000" in env and "CABINET_PRODUCTION=1" in env


def test_dockerignore_keeps_secrets_and_build_output_out():
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "var", ".env"} <= ignored
    assert not ignored & {"engine", "solutions", "themes", "schemas", "manage.py", "pyproject.toml", "README.md"}


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("missing", [("DATABASE_URL",), ("REDIS_URL",), ("SECRET_KEY",),
                                     ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")])
def test_make_serve_refuses_without_its_environment(missing):
    env = {k: v for k, v in os.environ.items() if k not in missing and not k.startswith(("MAKE", "MFLAGS"))}
    for name in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} - set(missing):
        env[name] = "set-for-the-test"
    result = subprocess.run(["make", "-s", "serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    named = re.findall(r"^make serve: set (\w+)", result.stderr, re.MULTILINE)
    assert named == [name for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") if name in missing]
    assert "refusing to start" in result.stderr
    assert result.stdout == ""  # nothing was installed or started


@pytest.mark.parametrize(("env", "bind", "workers"), [
    ({"PORT": "5123", "WEB_CONCURRENCY": "2"}, ["127.0.0.1:5123"], 2),
    ({"GUNICORN_BIND": "0.0.0.0:8000", "PORT": "5123", "WEB_CONCURRENCY": "4"}, ["0.0.0.0:8000"], 4),
    ({}, ["127.0.0.1:8000"], None),
])
def test_gunicorn_config_binds_loopback_unless_told(monkeypatch, env, bind, workers):
    for name in ("PORT", "GUNICORN_BIND", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["bind"] == bind
    assert config["preload_app"] is False
    if workers is None:
        assert 2 <= config["workers"] <= 8
    else:
        assert config["workers"] == workers
