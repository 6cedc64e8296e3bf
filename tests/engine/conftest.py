"""Fixtures the engine's chat tests share (the rest are in tests/conftest.py)."""
import pytest

from tests.chat_fixtures import seed_resort


@pytest.fixture
def chat_resort(solution):
    """The resort published with its demo people and conversations (two guests, reception, a manager)."""
    seed_resort()
    return solution
