"""The vendored icon set (Lucide, one SVG sprite under the default theme's static files) and its names."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

SPRITE = "cabinet/icons/lucide.svg"  # the static path templates link to
SPRITE_FILE = Path(__file__).resolve().parent.parent / "themes" / "default" / "static" / SPRITE


@lru_cache(maxsize=1)
def names():
    """The icon names the sprite holds (its symbols' ids)."""
    return frozenset(re.findall(r'<symbol id="([a-z0-9-]+)"', SPRITE_FILE.read_text(encoding="utf-8")))


def known(name):
    return name in names()
