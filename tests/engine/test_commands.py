"""``manage.py cabinet`` and ``manage.py demo`` as a consultant uses them."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from engine.models import SolutionVersion
from engine.registry import registry

ROOT = Path(__file__).resolve().parents[2]
GOOD = "solution:\n  name: shop\nentities:\n  item:\n    fields:\n      name: {type: string, required: true}\n"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("cabinet", *args, stdout=out, stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def test_check_valid_solution(tmp_path):
    code, out, _ = run("check", str(write(tmp_path / "s", {"s.yaml": GOOD})))
    assert code == 0
    assert out.strip().endswith("solution 'shop' is valid (1 entities, 0 roles, 0 pages, 0 workflows; 0 warning(s))")


def test_check_reports_every_problem_located_and_exits_1(tmp_path):
    folder = write(tmp_path / "s", {
        "s.yaml": GOOD.replace("type: string", "type: strin"),
        "broken.yaml": "entities: [\n",
        "latin1.yaml": b"x: caf\xe9\n",
    })
    code, _, err = run("check", str(folder))
    assert code == 1
    assert err.splitlines() == [
        "broken.yaml:2:1: cabinet.E001 while parsing a flow node; expected the node content, but found '<stream end>' "
        "(hint: check indentation, colons and quotes around here)",
        "latin1.yaml:1:7: cabinet.E002 byte 0xe9 at offset 6 is not valid UTF-8 (hint: save the file as UTF-8)",
        "s.yaml:6:20: cabinet.E104 'entities.item.fields.name.type' is 'strin', not one of: string, text, markdown, "
        "integer, decimal, money, boolean, date, datetime, time, choice, email, phone, url, image, file, json, ref, "
        "refs; did you mean 'string'?",
        f"3 error(s) in {folder}",
    ]


def test_check_default_path_is_the_resort_solution():
    code, out, _ = run("check")
    assert code == 0 and "solution 'resort' is valid" in out


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02", b"- - - -\n", b"solution: !!python/object:os.system x\n",
                                     b"solution:\n  name: " + b"a" * 100 + b"\n", b"\xef\xbb\xbfsolution: {name: x}\n"])
def test_check_never_shows_a_traceback(tmp_path, content):
    folder = write(tmp_path / "s", {"a.yaml": content})
    result = subprocess.run([sys.executable, "manage.py", "cabinet", "check", str(folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "DATABASE_URL": ""})
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (0, 1)
    assert all(line.startswith(("a.yaml:", "CommandError")) for line in result.stderr.splitlines()), result.stderr


def test_plan_migrate_versions_export_rollback(tmp_path, schema):
    v1 = write(tmp_path / "v1", {"s.yaml": GOOD})
    code, out, _ = run("plan", str(v1))
    digest = out.splitlines()[-1].split()[2]
    assert len(digest) == 12
    assert out.splitlines() == ["Plan for solution 'shop': version none -> 1, 1 operation(s)",
                                "  + create table cabinet_item (entity 'item', 2 columns)",
                                f"Plan hash: {digest} (apply exactly this plan with 'cabinet migrate --plan {digest}')"]
    code, out, _ = run("migrate", str(v1), "--note", "first", "--plan", digest)
    assert code == 0 and out.splitlines()[-2:] == [f"Plan hash: {digest}", "Published 'shop' version 1."]
    code, out, _ = run("migrate", str(v1))
    assert out.strip() == "Version 1 already holds these definitions; nothing to do."
    registry.active.model("item").objects.create(name="kept")

    v2 = write(tmp_path / "v2", {"s.yaml": GOOD + "      price: {type: money, default: 0}\n"})
    assert run("migrate", str(v2))[0] == 0
    v3 = write(tmp_path / "v3", {"s.yaml": GOOD.replace("      name: {type: string, required: true}\n",
                                                        "      title: {type: string}\n")})
    code, out, err = run("plan", str(v3))
    assert "  ! drop column cabinet_item.name (1 rows hold a value)" in out
    assert "cabinet.M001: dropping 'item.name' deletes the values of 1 row(s)" in out
    code, out, err = run("migrate", str(v3))
    assert code == 1 and "cabinet.M001" in err and SolutionVersion.objects.count() == 2

    code, out, _ = run("versions")
    assert [line.split()[0] for line in out.splitlines()] == ["v2", "v1"]
    code, out, _ = run("export", str(tmp_path / "out"), "--version", "1")
    assert (tmp_path / "out" / "s.yaml").read_text() == GOOD
    code, out, err = run("rollback", "1")  # would drop 'price', which holds values
    assert code == 1 and "cabinet.M001" in err
    code, out, _ = run("rollback", "1", "--allow-data-loss")
    assert code == 0 and registry.active.number == 3
    assert SolutionVersion.objects.get(number=3).note == "rollback to v1"
    assert list(registry.active.model("item").objects.values_list("name", flat=True)) == ["kept"]


def test_demo_seed_only_creates_logins_and_owned_rows(schema):
    out = io.StringIO()
    call_command("demo", seed_only=True, stdout=out)
    text = out.getvalue()
    assert "anna       anna-demo" in text and "admin      admin-demo" in text
    User = get_user_model()
    for username in ("anna", "boris", "reception", "manager", "admin"):
        assert User.objects.get(username=username).check_password(f"{username}-demo")
    assert User.objects.get(username="admin").is_superuser
    assert set(User.objects.get(username="anna").groups.values_list("name", flat=True)) == {"guest"}
    built = registry.active
    anna_stays = built.model("stay").objects.filter(guest__user__username="anna")
    assert anna_stays.count() == 2
    assert built.model("booking").objects.filter(guest__user__username="boris").count() == 1
    call_command("demo", seed_only=True, stdout=io.StringIO())  # again: nothing duplicated
    assert built.model("stay").objects.count() == 3 and SolutionVersion.objects.count() == 1


def test_migrate_applies_only_the_plan_it_was_shown(tmp_path, schema):
    """Rows written after 'cabinet plan' change the plan: '--plan HASH' refuses it and changes nothing."""
    v1 = write(tmp_path / "v1", {"s.yaml": GOOD + "      size: integer\n"})
    assert run("migrate", str(v1))[0] == 0
    v2 = write(tmp_path / "v2", {"s.yaml": GOOD})
    code, out, _ = run("plan", str(v2))
    shown = out.splitlines()[-1].split()[2]
    assert "  ~ drop column cabinet_item.size (0 rows hold a value)" in out
    registry.active.model("item").objects.create(name="late", size=7)  # written between plan and migrate
    code, out, err = run("migrate", str(v2), "--plan", shown, "--allow-data-loss")
    assert code == 1
    assert err.splitlines()[0].startswith(f"<solution>: cabinet.M007 the plan changed since it was shown (shown {shown}, now ")
    assert SolutionVersion.objects.count() == 1
    assert list(registry.active.model("item").objects.values_list("size", flat=True)) == [7]


def test_commands_on_a_truly_fresh_database(tmp_path):
    """A new SQLite file, nothing migrated: plan and versions say so, migrate creates everything."""
    folder = write(tmp_path / "s", {"s.yaml": GOOD})
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "REDIS_URL": ""}

    def cabinet(*args):
        return subprocess.run([sys.executable, "manage.py", "cabinet", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    result = cabinet("versions")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["No version applied yet (the database has no engine tables: run "
                                          "'python manage.py cabinet migrate', which creates them)."]
    result = cabinet("plan", str(folder))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1:3] == ["Plan for solution 'shop': version none -> 1, 1 operation(s)",
                                               "  + create table cabinet_item (entity 'item', 2 columns)"]
    result = cabinet("migrate", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Applying Django's own migrations first (manage.py migrate)."
    assert result.stdout.splitlines()[-1] == "Published 'shop' version 1."
    result = cabinet("versions")
    assert result.returncode == 0 and result.stdout.split()[0] == "v1"


def test_an_applied_version_that_no_longer_compiles_is_reported_not_a_traceback(tmp_path, schema):
    from engine.models import digest_sources

    folder = write(tmp_path / "s", {"s.yaml": GOOD})
    assert run("migrate", str(folder))[0] == 0
    broken = {"s.yaml": GOOD.replace("type: string", "type: strng")}  # as an older engine might have accepted
    SolutionVersion.objects.create(number=2, solution="shop", sources=broken, digest=digest_sources(broken),
                                   engine_version="0.0.1")
    for action in ("plan", "migrate"):
        code, out, err = run(action, str(folder))
        assert code == 1
        lines = err.splitlines()
        assert lines[0] == ("<solution>: cabinet.M011 the applied version 2 (engine 0.0.1) does not compile under this "
                            "engine, so no change can be planned from it (hint: publish a fixed copy of it first "
                            "('cabinet export', fix, 'cabinet migrate'))")
        assert lines[1].startswith("s.yaml:6:20: cabinet.E104 ")
