"""axe-core in the browser tests: run it on a Playwright page and report its violations readably."""
from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

AXE = Axe()
# WCAG 2.1 A and AA, and axe's best practices (landmarks, one h1, heading order...).
OPTIONS = {"resultTypes": ["violations"],
           "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def violations(page):
    """The axe violations of the page as it is now (a list of axe's violation objects)."""
    return AXE.run(page, options=OPTIONS).response["violations"]


def describe(found):
    """One line per violation and node: rule, impact, what to fix and where."""
    lines = []
    for v in found:
        for node in v["nodes"][:5]:
            lines.append(f"{v['id']} ({v['impact']}): {v['help']} at {' '.join(map(str, node['target']))}"
                         f" -- {node.get('failureSummary', '').splitlines()[-1].strip() if node.get('failureSummary') else ''}")
    return "\n".join(lines)


def assert_accessible(page, where=""):
    """Fail with a readable list when axe finds any violation on ``page``."""
    found = violations(page)
    assert not found, f"axe violations on {where or page.url}:\n{describe(found)}"
