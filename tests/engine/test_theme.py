"""The default theme meets WCAG AA contrast (4.5:1 for text) with its own tokens and the resort's brand."""
import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "themes" / "default" / "static" / "cabinet" / "cabinet.css"


def tokens():
    root = re.search(r":root\s*{(.*?)}", CSS.read_text(), re.S).group(1)
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", root))


def luminance(colour):
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("fg", "bg"), [
    ("text", "bg"), ("text", "card"), ("muted", "card"), ("muted", "bg"), ("primary", "card"), ("primary", "bg"),
    ("danger", "card"),
])
def test_text_pairs_of_the_default_theme(fg, bg):
    t = tokens()
    assert contrast(t[fg], t[bg]) >= 4.5, (fg, bg, round(contrast(t[fg], t[bg]), 2))


def test_white_text_on_the_primary_colour():
    assert contrast("#ffffff", tokens()["primary"]) >= 4.5


def test_resort_brand_colour_keeps_contrast():
    import yaml

    brand = yaml.safe_load((Path("solutions/resort/solution.yaml")).read_text())["solution"]["branding"]
    assert contrast("#ffffff", brand["primary"]) >= 4.5


def dark_tokens():
    block = re.search(r"@media \(prefers-color-scheme: dark\)\s*{\s*:root\s*{(.*?)}", CSS.read_text(), re.S).group(1)
    return {**tokens(), **dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", block))}


SEMANTIC = ("success", "warning", "danger", "info", "neutral")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("token", SEMANTIC)
def test_semantic_colours_read_on_their_backgrounds(scheme, token):
    t = tokens() if scheme == "light" else dark_tokens()
    for bg in (f"c-{token}-bg", "card"):
        assert contrast(t[f"c-{token}"], t[bg]) >= 4.5, (scheme, token, bg)
    assert contrast(t["text"], t[f"c-{token}-bg"]) >= 4.5  # a message's text on its tinted box


@pytest.mark.parametrize(("fg", "bg"), [("text", "bg"), ("text", "card"), ("muted", "card"), ("muted", "bg")])
def test_dark_mode_text_pairs(fg, bg):
    t = dark_tokens()
    assert contrast(t[fg], t[bg]) >= 4.5, (fg, bg)


def test_focus_ring_is_visible_on_the_page_and_the_design_system_names_exist():
    t = tokens()
    assert contrast(t["focus"], t["card"]) >= 3 and contrast(t["focus"], t["bg"]) >= 3
    css = CSS.read_text()
    for name in (".button--primary", ".button--danger", ".button--quiet", *(f".badge--{s}" for s in SEMANTIC),
                 "--space-4", "--text-lg", ":focus-visible", "overflow-wrap: anywhere"):
        assert name in css, name
