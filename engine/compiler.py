"""The front half of the pipeline: sources -> loaded document -> validated -> spec, with problems."""
from __future__ import annotations

from dataclasses import dataclass, field

from .checks import check_spec
from .demodata import DemoData, check_data
from .errors import SolutionError, sort_problems
from .loader import data_sources, load_data, load_folder, load_sources
from .spec import SolutionSpec, make_solution_spec
from .validate import validate_document


@dataclass
class Compiled:
    """The outcome of compiling a solution: its spec (None when there are errors) and all problems."""

    spec: SolutionSpec | None
    sources: dict[str, str]
    problems: list = field(default_factory=list)
    data: DemoData | None = None  # the checked demo data, when the solution has data files and no errors

    @property
    def errors(self):
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self):
        return [p for p in self.problems if not p.is_error]

    def raise_for_errors(self):
        """Raise ``SolutionError`` with every error, or return the spec."""
        if self.errors or self.spec is None:
            raise SolutionError(self.errors)
        return self.spec


def _finish(doc, data=None):
    load_failed = any(p.is_error for p in doc.problems)
    validate_document(doc)
    if load_failed:
        # A file that could not be read may hold the missing sections; do not blame their absence.
        doc.problems = [p for p in doc.problems if not (p.code == "E111" and "no file defines" in p.message)]
    files = load_data(data) if data else []
    file_problems = [p for f in files for p in f.doc.problems]
    if any(p.is_error for p in doc.problems):
        return Compiled(None, doc.sources, sort_problems(doc.problems + file_problems))
    spec = make_solution_spec(doc)
    problems = doc.problems + check_spec(spec, doc) + file_problems
    demo = None
    if files and not any(p.is_error for p in problems):
        data_problems, demo = check_data(spec, files)
        problems += data_problems
    has_errors = any(p.is_error for p in problems)
    return Compiled(None if has_errors else spec, doc.sources, sort_problems(problems),
                    None if has_errors else demo)


def compile_sources(sources, data=None):
    """Compile ``{relative path: text or bytes}`` (and data files, likewise) into a ``Compiled``."""
    return _finish(load_sources(sources), data)


def compile_folder(path):
    """Compile the solution folder at ``path``, with its data files (``data/*.yaml``), into a ``Compiled``."""
    return _finish(load_folder(path), data_sources(path))
