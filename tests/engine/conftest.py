"""Fixtures the engine's chat and builder tests share (the rest are in tests/conftest.py)."""
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.chat_fixtures import seed_resort


@pytest.fixture
def chat_resort(solution):
    """The resort published with its demo people and conversations (two guests, reception, a manager)."""
    seed_resort()
    return solution


@pytest.fixture
def boss(solution):
    """A superuser signed in, with the resort published as version 1 and an open draft of it."""
    from engine.builder import drafts

    user = get_user_model().objects.create_superuser("boss", password="pw-boss-12345")
    client = Client()
    client.force_login(user)
    return user, client, drafts.start(user)
