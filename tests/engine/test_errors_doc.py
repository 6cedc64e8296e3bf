"""The documented problem ids and the catalog in code are the same set."""
import re
from pathlib import Path

import pytest

from engine.errors import CATALOG, Problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
ENGINE = Path(__file__).resolve().parents[2] / "engine"


def test_every_catalog_id_is_documented_and_nothing_else():
    documented = set(re.findall(r"^\| cabinet\.([EWM]\d{3}) \|", DOC.read_text(encoding="utf-8"), re.M))
    assert documented == set(CATALOG)


def test_every_code_used_in_the_engine_is_in_the_catalog():
    used = set()
    for path in ENGINE.rglob("*.py"):
        used |= set(re.findall(r'"([EWM]\d{3})"', path.read_text(encoding="utf-8")))
    assert used <= set(CATALOG)
    assert set(CATALOG) - used == set(), "catalog ids that no code reports"


def test_unknown_code_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown problem code"):
        Problem("E999", "x")
