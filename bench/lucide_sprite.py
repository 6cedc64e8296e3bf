"""Build themes/default/static/cabinet/icons/lucide.svg from an unpacked ``lucide-static`` package.

    cd /tmp && npm pack lucide-static@1.62.0 && tar xzf lucide-static-1.62.0.tgz
    python bench/lucide_sprite.py /tmp/package

Every ``icons/*.svg`` becomes a ``<symbol>`` (the package's own sprite lacks the aliases, such as ``home``).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "themes" / "default" / "static" / "cabinet" / "icons" / "lucide.svg"


def main(package):
    package = Path(package)
    version = re.search(r'"version":\s*"([^"]+)"', (package / "package.json").read_text()).group(1)
    symbols = []
    for svg in sorted((package / "icons").glob("*.svg")):
        body = re.search(r">\s*(.*)</svg>", svg.read_text(encoding="utf-8").split("-->", 1)[-1], re.S).group(1)
        inner = " ".join(line.strip() for line in body.splitlines() if line.strip())
        symbols.append(f'<symbol id="{svg.stem}" viewBox="0 0 24 24">{inner}</symbol>')
    OUT.write_text(f'<!-- Lucide {version}, ISC licence (see LICENSE) -->\n<svg xmlns="http://www.w3.org/2000/svg">'
                   f'<defs>\n' + "\n".join(symbols) + "\n</defs></svg>\n", encoding="utf-8")
    sys.stdout.write(f"{len(symbols)} icons -> {OUT}\n")


if __name__ == "__main__":
    main(sys.argv[1])
