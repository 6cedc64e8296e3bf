"""Compile the UI translations (``engine/locale/*/LC_MESSAGES/django.po``) to ``.mo`` without gettext.

Run by ``make messages``; the ``.mo`` files are committed so a fresh clone needs no extra tool.
"""
from pathlib import Path

import polib


def main():
    for po_path in sorted(Path(__file__).resolve().parent.glob("locale/*/LC_MESSAGES/*.po")):
        polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))
        print(f"compiled {po_path.with_suffix('.mo')}")  # noqa: T201


if __name__ == "__main__":
    main()
