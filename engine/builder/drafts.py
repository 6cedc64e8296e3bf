"""Drafts: start, edit, check, plan and publish a change of the solution's definitions.

A draft holds its own copy of the YAML files and the list of edits made to it. Publishing goes
through ``engine.migrate.publish`` with the plan the admin saw (its digest), the destructive steps
they confirmed, and the version the draft was based on, all checked under the publish lock.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from django.db import transaction

from ..compiler import compile_sources
from ..loader import DATA_DIRS, MAX_FILE_BYTES
from ..migrate import BaseMoved, MigrationError, plan_for
from ..migrate import publish as migrate_publish
from ..models import SolutionVersion, digest_sources
from . import audit, edits
from .errors import (
    Blocked,
    BuilderError,
    ConfirmationNeeded,
    DraftHasErrors,
    DraftNotOpen,
    EditError,
    PlanChanged,
    StaleDraft,
)
from .grading import grade_plan
from .importer import export_files, file_digest, file_edits, read_solution_folder, version_sources
from .models import BuilderLog, Draft

FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(/[A-Za-z0-9_][A-Za-z0-9_\-]*)*\.ya?ml$")
FILE_OPS = ("set_file", "remove_file")
_CHECKED = OrderedDict()  # sources digest -> Compiled (the few drafts being worked on)

__all__ = ["RebaseResult", "apply", "check", "discard", "export_files", "import_folder", "plan", "problems_at",
           "publish", "rebase", "rollback_draft", "set_file", "start"]


@dataclass
class RebaseResult:
    draft: Draft
    conflicts: list = field(default_factory=list)


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def _published():
    return SolutionVersion.objects.order_by("-number").first()


def _new_draft(user, sources, origin, title):
    """A draft of ``sources`` based on the published version; files that differ from it are recorded
    as file edits, so a rebase can replay them."""
    current = _published()
    base = current.number if current else 0
    known = current.sources if current else {}
    return Draft.objects.create(base=base, sources=dict(sources), title=(title or "")[:200], origin=origin[:255],
                                edits=file_edits(known, sources), created_by=_user(user))


def start(user, version=None, origin="builder", title=""):
    """Start a draft holding the published version's files (or version ``version``'s), based on the
    published number (0 when nothing is published)."""
    current = _published()
    sources = version_sources(version) if version else (dict(current.sources) if current else {})
    return _new_draft(user, sources, origin, title)


def _sync(target, source):
    for name in ("base", "sources", "edits", "status", "published_as", "updated_at", "title"):
        setattr(target, name, getattr(source, name))
    return target


def _ensure_open(draft):
    if draft.status != Draft.OPEN:
        raise DraftNotOpen(f"Draft #{draft.pk} is {draft.status}; start a new one.")


def apply(draft, edit, user=None):
    """Apply one structured edit to the draft, or raise ``EditError`` leaving the draft unchanged."""
    with transaction.atomic():
        locked = Draft.objects.select_for_update().get(pk=draft.pk)
        _ensure_open(locked)
        if isinstance(edit, dict) and edit.get("op") in FILE_OPS:
            new, record = _file_edit(locked, edit)
        else:
            new = edits.run(locked.sources, edit, version_sources(locked.base))
            record = dict(edit)
        if new != locked.sources:
            locked.sources = new
            locked.edits = [*locked.edits, record]
            locked.save(update_fields=["sources", "edits", "updated_at"])
    return _sync(draft, locked)


def set_file(draft, path, text, user=None):
    """Replace (or add) one YAML file of the draft: the expert editor's save."""
    return apply(draft, {"op": "set_file", "path": path, "text": text}, user)


def _file_edit(draft, edit):
    """Check a set_file/remove_file edit; return (new sources, the edit as recorded)."""
    path, text = edit.get("path"), edit.get("text")
    errors = {}
    extra = set(edit) - {"op", "path", "text", "before"}
    for key in extra:
        errors[key] = ["is not an argument of this edit"]
    problem = path_problem(path, draft.sources)
    if problem:
        errors["path"] = [problem]
    if edit["op"] == "set_file":
        if not isinstance(text, str):
            errors["text"] = ["must be the file's text"]
        elif len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            errors["text"] = [f"is longer than {MAX_FILE_BYTES} bytes"]
        elif "\x00" in text:
            errors["text"] = ["holds a NUL character"]
    elif path not in draft.sources and not problem:
        errors["path"] = [f"the draft has no file '{path}'"]
    if errors:
        raise EditError(errors)
    before = file_digest(version_sources(draft.base).get(path))
    sources = dict(draft.sources)
    if edit["op"] == "set_file":
        if "\r\n" in text and "\r\n" not in draft.sources.get(path, ""):
            text = text.replace("\r\n", "\n")  # a browser's textarea sends CRLF; keep the file's own line ends
        sources[path] = text
        return sources, {"op": "set_file", "path": path, "text": sources[path], "before": before}
    del sources[path]
    return sources, {"op": "remove_file", "path": path, "before": before}


def path_problem(path, known=()):
    """Why ``path`` cannot name a file of the solution, or None."""
    if not isinstance(path, str) or not path:
        return "must be a file name such as 'entities.yaml'"
    if path in known:
        return None
    if len(path) > 200 or ".." in path or path.startswith("/") or "\\" in path or not FILE_RE.match(path):
        return "must be a relative *.yaml name of letters, digits, '_' and '-' (folders with '/')"
    if path.split("/")[0] in DATA_DIRS:
        return "data files are not definitions"
    return None


def check(draft):
    """Compile the draft's files (cached by their digest); return the ``Compiled``."""
    key = digest_sources(draft.sources)
    if key in _CHECKED:
        _CHECKED.move_to_end(key)
        return _CHECKED[key]
    compiled = compile_sources(draft.sources)
    _CHECKED[key] = compiled
    while len(_CHECKED) > 8:
        _CHECKED.popitem(last=False)
    return compiled


def problems_at(compiled, prefix):
    """The problems located at YAML path ``prefix`` or inside it (e.g. 'entities.guest.fields.email')."""
    found = []
    for problem in compiled.problems:
        path = problem.loc.path or ""
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            found.append(problem)
    return found


def plan(draft):
    """The draft's graded plan against the published version (``DraftHasErrors`` when it does not compile)."""
    compiled = check(draft)
    if compiled.errors or compiled.spec is None:
        raise DraftHasErrors(compiled.errors)
    try:
        migration, current = plan_for(compiled.spec)
    except MigrationError as exc:
        raise Blocked(exc.problems) from exc
    return grade_plan(migration, draft.base, current.number if current else 0)


def publish(draft, user, comment="", digest=None, confirmed=()):
    """Publish the draft as the next version; return the ``SolutionVersion``.

    Refused (and logged) when the draft is stale, has errors, its plan differs from ``digest``, a
    destructive step's key is not in ``confirmed`` or a step cannot run at all.
    """
    view = None
    try:
        _ensure_open(draft)
        if not isinstance(comment, str) or len(comment) > 2000:
            raise EditError({"comment": ["must be a text of at most 2000 characters"]})
        current = _published()
        if draft.base != (current.number if current else 0):
            raise StaleDraft(draft.base, current)
        view = plan(draft)
        if digest != view.digest:
            raise PlanChanged(digest, view.digest)
        if view.blocking:
            raise Blocked([s.refusal for s in view.blocking])
        missing = [s for s in view.destructive if s.key not in set(confirmed or ())]
        if missing:
            raise ConfirmationNeeded(missing)
        number = _run_publish(draft, user, comment, digest, bool(view.destructive))
    except BuilderError as error:
        audit.refused(error, user, draft, plan=view, version=view.number if view else None)
        raise
    Draft.objects.filter(pk=draft.pk).update(status=Draft.PUBLISHED, published_as=number)
    draft.status, draft.published_as = Draft.PUBLISHED, number
    action = BuilderLog.ROLLBACK if draft.origin.startswith("rollback:") else BuilderLog.PUBLISH
    audit.record(action, user, draft, version=number, comment=comment, plan=view,
                 details={"confirmed": sorted(s.key for s in view.destructive), "origin": draft.origin})
    return SolutionVersion.objects.get(number=number)


def _run_publish(draft, user, comment, digest, allow_data_loss):
    spec = check(draft).spec
    try:
        built, _ = migrate_publish(spec, dict(draft.sources), allow_data_loss=allow_data_loss, note=comment,
                                   origin=f"builder:draft#{draft.pk}", user=_user(user), expected_plan=digest,
                                   expected_base=draft.base)
    except BaseMoved as exc:
        raise StaleDraft(draft.base, exc.current) from exc
    except MigrationError as exc:
        if any(p.code == "M007" for p in exc.problems):
            raise PlanChanged(digest, "a different plan") from exc
        raise Blocked(exc.problems) from exc
    return built.number


def rebase(draft, user=None):
    """Replay the draft's edits on the newest published files; return the draft and the conflicts.

    A file edit whose file changed upstream, or an edit that no longer applies, is left out and named.
    """
    with transaction.atomic():
        locked = Draft.objects.select_for_update().get(pk=draft.pk)
        _ensure_open(locked)
        current = _published()
        number = current.number if current else 0
        upstream = dict(current.sources) if current else {}
        sources, kept, conflicts = dict(upstream), [], []
        for edit in locked.edits:
            try:
                sources = _replay(sources, edit, upstream, number, locked.base)
                kept.append(edit)
            except EditError as error:
                conflicts.append(f"{describe(edit)}: {error.message}")
        old_base = locked.base
        locked.base, locked.sources, locked.edits = number, sources, kept
        locked.save(update_fields=["base", "sources", "edits", "updated_at"])
        audit.record(BuilderLog.REBASE, user, locked, version=number,
                     details={"from": old_base, "to": number, "conflicts": conflicts})
    return RebaseResult(_sync(draft, locked), conflicts)


def _replay(sources, edit, upstream, number, old_base):
    if edit.get("op") not in FILE_OPS:
        return edits.run(sources, edit, upstream)
    path = edit["path"]
    if file_digest(upstream.get(path)) != edit.get("before"):
        raise EditError({"path": [f"'{path}' was changed in version {number} since this draft's base "
                                  f"(version {old_base}); this draft's version of it was left out"]})
    new = dict(sources)
    if edit["op"] == "remove_file":
        new.pop(path, None)
    else:
        new[path] = edit["text"]
        edit["before"] = file_digest(upstream.get(path))
    return new


def describe(edit):
    """A short name of an edit for messages: "set_file entities.yaml", "add_field guest.allergies"."""
    op = edit.get("op", "?")
    subject = edit.get("path") or ".".join(str(edit[k]) for k in ("entity", "role", "page", "workflow") if k in edit)
    item = edit.get("name") or edit.get("field") or edit.get("state")
    return f"{op} {subject}{'.' + str(item) if item and subject else item or ''}".strip()


def discard(draft, user=None):
    """Discard an open draft (kept, marked discarded, and logged)."""
    _ensure_open(draft)
    Draft.objects.filter(pk=draft.pk).update(status=Draft.DISCARDED)
    draft.status = Draft.DISCARDED
    audit.record(BuilderLog.DISCARD, user, draft, details={"origin": draft.origin, "edits": len(draft.edits)})
    return draft


def rollback_draft(number, user=None):
    """A draft holding version ``number``'s files, published through the same plan as any draft."""
    current = _published()
    if current is not None and isinstance(number, int) and number == current.number:
        raise EditError({"number": [f"version {number} is the published version"]})
    sources = version_sources(number) if isinstance(number, int) and number > 0 else None
    if sources is None:
        raise EditError({"number": ["must be the number of an earlier version"]})
    return _new_draft(user, sources, f"rollback:v{number}", f"Rollback to version {number}")


def import_folder(path, user=None):
    """The solution folder's files as a draft (the files changed in git, through the same plan)."""
    sources = read_solution_folder(path)
    draft = _new_draft(user, sources, f"import:{path}", f"Import of {path}")
    audit.record(BuilderLog.IMPORT, user, draft, details={"path": str(path), "files": sorted(sources),
                                                          "changed": [e["path"] for e in draft.edits]})
    return draft
