"""The git round trip: a version's files out exactly as published, a solution folder in as a draft."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..loader import _decode, read_folder
from ..models import SolutionVersion
from .errors import ImportFailed, NotFound


def file_digest(text):
    """A short digest of one file's text (None for a file that does not exist)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def file_edits(old, new):
    """The file-level edits taking sources ``old`` to ``new`` (what a rebase replays)."""
    found = []
    for path in sorted(set(old) | set(new)):
        if path not in new:
            found.append({"op": "remove_file", "path": path, "before": file_digest(old[path])})
        elif old.get(path) != new[path]:
            found.append({"op": "set_file", "path": path, "text": new[path], "before": file_digest(old.get(path))})
    return found


def version_sources(number):
    """The files of version ``number`` (``{}`` for 0, before anything was published)."""
    if not number:
        return {}
    version = SolutionVersion.objects.filter(number=number).first()
    if version is None:
        raise NotFound(f"There is no version {number}.", {"number": [f"there is no version {number}"]})
    return dict(version.sources)


def export_files(number=None):
    """The files of version ``number`` (default: the published one), byte for byte as published."""
    qs = SolutionVersion.objects.order_by("-number")
    version = qs.filter(number=number).first() if number else qs.first()
    if version is None:
        raise NotFound(f"There is no version {number}." if number else "Nothing is published yet.",
                       {"number": ["no such version"]})
    return dict(version.sources)


def read_solution_folder(path):
    """Read a solution folder's definition files as ``cabinet check`` does; return ``{path: text}``."""
    folder = Path(path)
    try:
        raw = read_folder(folder)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ImportFailed(f"There is no solution folder at {folder}.", {"path": ["no such folder"]}) from exc
    if not raw:
        raise ImportFailed(f"{folder} holds no YAML file.", {"path": ["the folder holds no YAML file"]})
    texts, problems = {}, []
    for name, data in sorted(raw.items()):
        text = _decode(problems, name, data)
        if text is not None:
            texts[name] = text
    if problems:
        raise ImportFailed(f"{len(problems)} file(s) of {folder} cannot be read.",
                           {"path": [str(p) for p in problems]})
    return texts


def write_folder(files, directory):
    """Write ``{path: text}`` under ``directory`` (refusing any path that would leave it)."""
    root = Path(directory)
    for rel, text in files.items():
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:
            raise ImportFailed(f"refusing to write outside {root}: {rel}", {"path": [rel]})
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return len(files)
