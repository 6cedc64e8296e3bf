"""What the roles, pages, workflows and branding sections share: the spec shown, the draft edited and the
way an edit's answer becomes a redirect or a form with its errors."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponseRedirect
from django.urls import reverse

from ...compiler import compile_sources
from ...loader import load_sources
from ...registry import registry
from ...spec import make_solution_spec
from ...validate import validate_document
from ..models import Draft
from .common import open_draft_or_404, published


@dataclass
class Shown:
    """The solution a section shows: the draft's (when editing) or the published one."""

    spec: object  # SolutionSpec, or None when the sources cannot be read at all
    draft: Draft | None = None
    problems: list = field(default_factory=list)  # the draft's problems (errors and warnings)

    @property
    def errors(self):
        return [p for p in self.problems if p.is_error]

    def problems_at(self, prefix):
        """The problems located at the YAML path ``prefix`` or inside it (shown next to the thing)."""
        prefix = tuple(prefix.split(".")) if isinstance(prefix, str) else tuple(prefix)
        found = []
        for p in self.problems:
            path = p.loc.path or ()
            parts = tuple(path.split(".")) if isinstance(path, str) else tuple(str(part) for part in path)
            if parts[:len(prefix)] == prefix:
                found.append(p)
        return found


def lenient_spec(sources):
    """The spec of ``sources`` even when a check fails (so the builder can show what to fix), or None when
    the files cannot be read as a solution (a YAML or schema error)."""
    doc = load_sources(sources)
    validate_document(doc)
    if any(p.is_error for p in doc.problems):
        return None
    return make_solution_spec(doc)


def published_spec():
    """The published version's spec (the one this process serves when it is current)."""
    version = published()
    if version is None:
        return None
    if registry.ready and registry.active.number == version.number:
        return registry.active.spec
    return compile_sources(version.sources).spec or lenient_spec(version.sources)


def shown(draft_id=None):
    """The ``Shown`` solution of a section page: the open draft ``draft_id`` or the published version."""
    if draft_id is None:
        return Shown(published_spec())
    from .. import drafts

    draft = open_draft_or_404(draft_id)
    compiled = drafts.check(draft)
    return Shown(compiled.spec or lenient_spec(draft.sources), draft, list(compiled.problems))


def editing_draft(user):
    """The user's newest open draft, or a new one started from the published version."""
    from .. import drafts

    draft = Draft.objects.filter(status=Draft.OPEN, created_by=user).order_by("-updated_at", "-pk").first()
    return draft or drafts.start(user)


def apply_edit(request, draft, edit):
    """Apply ``edit`` to ``draft``; return None when it was applied, else the errors by form field.

    Argument errors come back by argument name (``EditError.fields``); any other refusal under ``form``.
    Nothing is changed when the edit is refused.
    """
    from .. import drafts
    from ..errors import BuilderError, EditError

    try:
        drafts.apply(draft, edit, request.user)
    except EditError as exc:
        return exc.fields or {"form": [exc.message]}
    except BuilderError as exc:
        return {"form": [exc.message]}
    return None


def see_other(url, request=None, message=None):
    """A 303 redirect after a successful POST (with an optional success message)."""
    if request is not None and message:
        messages.success(request, message)
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def url(name, draft=None, *args):
    """The URL of section page ``name``, in the draft when there is one."""
    if draft is not None:
        return reverse(f"builder:{name}", args=(draft.pk, *args))
    return reverse(f"builder:{name}", args=args)


def labels_from(post, prefix, languages):
    """A ``{language: text}`` label from inputs ``<prefix>_<language>`` (empty texts left out)."""
    texts = {}
    for lang in languages:
        text = post.get(f"{prefix}_{lang}", "").strip()
        if text:
            texts[lang] = text
    return texts


def label_values(label, languages):
    """The texts of ``label`` per language, for filling a form's inputs."""
    table = dict(label.texts)
    return {lang: table.get(lang, table.get(None, "")) for lang in languages}


def require_post_choice(value, allowed):
    """Refuse a value a form could not have sent (a tampered request) as a 400."""
    if value not in allowed:
        raise SuspiciousOperation("unexpected value")
    return value
