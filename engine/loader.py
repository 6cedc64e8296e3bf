"""Load a solution's YAML files into plain data that remembers where every value came from.

Each file is a mapping of sections (``solution``, ``entities``, ``roles``, ``pages``,
``workflows``); files are merged section by section, and a name defined in two files is a
problem. The loader never raises for anything a user can write: syntax errors, bad bytes, empty
or huge files and alias bombs all become located problems.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import Loc, Problem

SECTIONS = ("solution", "entities", "roles", "pages", "workflows", "webhooks", "chats")
NAMED_SECTIONS = SECTIONS[1:]
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
# Files under these folders of a solution are data (demo seeds, fixtures), not definitions.
DATA_DIRS = ("data",)

_BREAKS = "\0 \t\r\n\x85\u2028\u2029"


class _Scanner(yaml.scanner.Scanner):
    """PyYAML's scanner, reading a '?' inside a flow plain scalar as text (YAML 1.2, libyaml >= 0.2.5).

    The pure scanner ends a flow plain scalar at '?', so ``{en: Cancel this order?, ru: ...}`` is a
    syntax error there but fine for libyaml. One scanner, our own, gives one behaviour whether or not
    PyYAML was built with libyaml (and whatever its version).
    """

    def scan_plain(self):
        chunks = []
        start_mark = self.get_mark()
        end_mark = start_mark
        indent = self.indent + 1
        spaces = []
        while True:
            length = 0
            if self.peek() == "#":
                break
            while True:
                ch = self.peek(length)
                if ch in _BREAKS or (ch == ":" and self.peek(length + 1) in _BREAKS + (",[]{}" if self.flow_level
                                                                                       else "")) \
                        or (self.flow_level and ch in ",[]{}"):
                    break
                length += 1
            if length == 0:
                break
            self.allow_simple_key = False
            chunks.extend(spaces)
            chunks.append(self.prefix(length))
            self.forward(length)
            end_mark = self.get_mark()
            spaces = self.scan_plain_spaces(indent, start_mark)
            if not spaces or self.peek() == "#" or (not self.flow_level and self.column < indent):
                break
        return yaml.tokens.ScalarToken("".join(chunks), True, start_mark, end_mark)


class StrictLoader(yaml.reader.Reader, _Scanner, yaml.parser.Parser, yaml.composer.Composer,
                   yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """Safe YAML with only ``true``/``false`` as booleans and dates kept as strings.

    YAML 1.1 turns ``no``, ``on`` and ``2024-01-01`` into booleans and dates, which surprises
    consultants (``languages: [en, no]``); the DSL parses dates itself. The loader is pure Python on
    purpose (never libyaml's ``CSafeLoader``): definitions and data must read the same everywhere.
    """

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        _Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def path_text(path):
    """Render a YAML path tuple as 'entities.guest.fields[0]'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class Document:
    """A solution's merged definitions with the source place of every key and value."""

    sources: dict[str, str] = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    # path -> (file, line, column); made into a Loc only when asked, as most are never needed
    values: dict[tuple, tuple] = field(default_factory=dict)
    keys: dict[tuple, tuple] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def loc(self, path, key=False):
        """Return the place of ``path`` (of its key when ``key``), or of its nearest known parent."""
        path = tuple(path)
        table = self.keys if key else self.values
        found = table.get(path)
        if found is None:
            found = next((self.values[path[:cut]] for cut in range(len(path) - 1, -1, -1)
                          if path[:cut] in self.values), None)
        if found is None:
            return Loc(path=path_text(path))
        return Loc(found[0], found[1], found[2], path_text(path))

    def problem(self, code, message, path, hint="", key=False):
        """Record a problem located at ``path``."""
        self.problems.append(Problem(code, message, self.loc(path, key=key), hint))


def _short(text, limit=60):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _article(word):
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


class _TooComplex(Exception):
    pass


class _FileReader:
    """Turn one file's composed YAML nodes into data, recording the marks of keys and values."""

    def __init__(self, filename, problems):
        self.filename = filename
        self.problems = problems
        self.values: dict[tuple, tuple] = {}
        self.keys: dict[tuple, tuple] = {}
        self.count = 0
        self.active = set()
        self.buckets = {}
        self.constructor = yaml.constructor.SafeConstructor()

    def mark(self, node, path):
        m = node.start_mark
        return Loc(self.filename, m.line + 1, m.column + 1, path_text(path))

    def bucket(self, name, depth):
        """This file's marks of table ``name`` grouped by path prefix of ``depth`` parts (made once)."""
        if (name, depth) not in self.buckets:
            self.buckets[(name, depth)] = _buckets(getattr(self, name), depth)
        return self.buckets[(name, depth)]

    def raw(self, node):
        m = node.start_mark
        return (self.filename, m.line + 1, m.column + 1)

    def convert(self, node, path):
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooComplex(f"more than {MAX_NODES} values after expanding aliases")
        if id(node) in self.active:
            raise _TooComplex("an alias refers to a node that contains it")
        self.values[path] = self.raw(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if not self.collection_tag(node, path):
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(child, (*path, i)) for i, child in enumerate(node.value)]
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node, path):
        if node.tag == "tag:yaml.org,2002:str":
            return node.value
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self.problems.append(Problem(
                "E001", f"'{path_text(path)}' cannot be read: {getattr(exc, 'problem', exc)}",
                self.mark(node, path), "remove the tag or quote the value"))
            return None
        # PyYAML's resolvers pick a type by a loose pattern and its constructors then fail with whatever
        # the conversion raises: int('0x_') a ValueError, '!!bool abc' a KeyError, '!!timestamp nope'
        # an AttributeError, '!!int ""' an IndexError, a 5,000-digit int a ValueError.
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            self.problems.append(Problem(
                "E010", f"'{path_text(path)}' is {_short(node.value)!r}, which cannot be read as {_article(kind)} "
                f"({type(exc).__name__}: {_short(str(exc))})", self.mark(node, path),
                "fix the value, or quote it to keep it text"))
            return None
        return self.plain(node, path, value)

    def plain(self, node, path, value):
        """Return ``value`` if the DSL takes it (text, number, boolean, null); report it otherwise."""
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(Problem(
                "E008", f"'{path_text(path)}' is {_short(node.value)!r}, a number that is not finite",
                self.mark(node, path), "write a finite number, or quote it to keep it text"))
            return None
        if value is None or isinstance(value, (str, bool, int, float)):
            return value
        self.problems.append(Problem(
            "E009", f"'{path_text(path)}' is tagged {node.tag!r}, which gives a {type(value).__name__}; "
            "the definitions hold only text, numbers, booleans, lists and mappings",
            self.mark(node, path), "remove the tag; write dates as text, e.g. 2026-01-31"))
        return None

    def collection_tag(self, node, path):
        """Report a tag on a list or mapping (``!!set``, ``!!omap``, ``!custom``): it would be ignored."""
        plain = "tag:yaml.org,2002:seq" if isinstance(node, yaml.SequenceNode) else "tag:yaml.org,2002:map"
        if node.tag == plain:
            return True
        self.problems.append(Problem(
            "E009", f"'{path_text(path) or '<top>'}' is tagged {node.tag!r}, which the definitions do not take",
            self.mark(node, path), "remove the tag"))
        return False

    def mapping(self, node, path):
        result = {}
        merged = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.append((key_node, value_node))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                self.problems.append(Problem(
                    "E006", f"'{path_text(path) or '<top>'}' has a key {shown!r} that is not a plain string",
                    self.mark(key_node, path), 'quote the key, e.g. "1": ...'))
                continue
            key = key_node.value
            if key in result:
                self.problems.append(Problem(
                    "E003", f"'{path_text((*path, key))}' is defined twice in the same mapping",
                    self.mark(key_node, (*path, key)), "remove or rename one of the two keys"))
                continue
            self.keys[(*path, key)] = self.raw(key_node)
            result[key] = self.convert(value_node, (*path, key))
        for key_node, value_node in merged:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problems.append(Problem(
                        "E001", f"'{path_text(path)}' merges ('<<') something that is not a mapping",
                        self.mark(key_node, path), "merge only mappings: '<<: *defaults'"))
                    continue
                for key, value in self.mapping(source, path).items():
                    result.setdefault(key, value)
        return result


def _decode(problems, name, raw):
    if len(raw) > MAX_FILE_BYTES:
        problems.append(Problem(
            "E004", f"file is {len(raw)} bytes, more than the limit of {MAX_FILE_BYTES}",
            Loc(name, 1, 1), "split the definitions over several files"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(Problem(
            "E002", f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
            Loc(name, line, column), "save the file as UTF-8"))
        return None


def _compose(problems, name, text):
    loader = None
    try:
        # The pure reader checks the characters when it is made, so making it can fail too.
        loader = StrictLoader(text)
        return loader.get_single_node(), True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = "; ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        where = Loc(name, mark.line + 1, mark.column + 1) if mark else Loc(name, 1, 1)
        problems.append(Problem("E001", message, where, "check indentation, colons and quotes around here"))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problems.append(Problem("E001", f"character U+{code:04X} is not allowed in YAML",
                                Loc(name, line, column), "remove the control character"))
    except yaml.YAMLError as exc:
        problems.append(Problem("E001", f"invalid YAML: {str(exc).splitlines()[0]}", Loc(name, 1, 1)))
    except RecursionError:
        problems.append(Problem("E005", "the YAML is nested too deeply to read", Loc(name, 1, 1),
                                "flatten the structure"))
    finally:
        if loader is not None:
            loader.dispose()
    return None, False


def _read_file(doc, name, raw):
    """Parse one file into (data, reader) with marks; return None (problems recorded) when unusable."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    text = _decode(doc.problems, name, raw)
    if text is None:
        return None
    doc.sources[name] = text
    node, parsed = _compose(doc.problems, name, text)
    if node is None:
        if parsed:
            doc.problems.append(Problem("W001", "file is empty", Loc(name, 1, 1), "add definitions or delete it"))
        return None
    reader = _FileReader(name, doc.problems)
    try:
        return reader.convert(node, ()), reader
    except _TooComplex as exc:
        doc.problems.append(Problem("E005", f"file cannot be expanded: {exc}", Loc(name, 1, 1),
                                    "use fewer nested aliases"))
    except RecursionError:
        doc.problems.append(Problem("E005", "the YAML is nested too deeply to read", Loc(name, 1, 1),
                                    "flatten the structure"))
    return None


def _buckets(table, depth):
    """Group a mark table by the first ``depth`` parts of each path."""
    grouped = {}
    for path, mark in table.items():
        grouped.setdefault(path[:depth], {})[path] = mark
    return grouped


def _adopt(doc, reader, prefix):
    """Copy the marks a file recorded under ``prefix`` (one section, or one item of it) into the document."""
    for name in ("values", "keys"):
        getattr(doc, name).update(reader.bucket(name, len(prefix)).get(prefix, {}))


def _merge(doc, name, data, reader):
    """Merge one file's sections into the document, reporting names defined twice."""
    if not isinstance(data, dict):
        doc.problems.append(Problem(
            "E103", f"the top of the file is a {type(data).__name__}, not a mapping of sections",
            Loc(*reader.values[()]), f"start the file with one of: {', '.join(SECTIONS)}"))
        return
    for section, body in data.items():
        if section in doc.data and not (section in NAMED_SECTIONS and isinstance(body, dict)
                                        and isinstance(doc.data[section], dict)):
            code = "E111" if section == "solution" else "E110"
            doc.problems.append(Problem(
                code, f"'{section}' is defined in more than one file", Loc(*reader.keys[(section,)], section),
                f"keep one; the other is at {doc.loc((section,), key=True)}"))
            continue
        if section not in doc.data:
            doc.data[section] = body
            _adopt(doc, reader, (section,))
            continue
        for item, value in body.items():
            if item in doc.data[section]:
                doc.problems.append(Problem(
                    "E110", f"'{section}.{item}' is defined twice", Loc(*reader.keys[(section, item)],
                                                                        f"{section}.{item}"),
                    f"the first definition is at {doc.loc((section, item), key=True)}; rename or remove one"))
                continue
            doc.data[section][item] = value
            _adopt(doc, reader, (section, item))


def load_sources(sources):
    """Load a solution from ``{relative path: text or bytes}``; return a ``Document``."""
    doc = Document()
    if not sources:
        doc.problems.append(Problem("E007", "the solution holds no YAML file", Loc(),
                                    "add a solution.yaml with a 'solution' section"))
        return doc
    for name in sorted(sources):
        read = _read_file(doc, name, sources[name])
        if read is not None:
            _merge(doc, name, *read)
    return doc


def solution_files(root):
    """List a solution folder's definition files (YAML outside data folders), sorted."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        rel = path.relative_to(root)
        if rel.parts[0] in DATA_DIRS or any(part.startswith(".") for part in rel.parts):
            continue
        found.append(path)
    return found


def read_folder(root):
    """Read a solution folder into ``{relative path: bytes}``; raise ``FileNotFoundError`` if absent."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(root)
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in solution_files(root)}


@dataclass
class DataFile:
    """One data file of a solution (``data/*.yaml``): its content and a document locating its values."""

    name: str
    data: object
    doc: Document


def data_sources(root):
    """Read a solution's data files (``data/*.yaml``) into ``{relative path: bytes}``; none if absent."""
    root = Path(root)
    found = {}
    for folder in DATA_DIRS:
        for path in sorted((root / folder).glob("*.y*ml")) if (root / folder).is_dir() else ():
            if path.suffix in (".yaml", ".yml") and path.is_file() and not path.name.startswith("."):
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def load_data(sources):
    """Read data files with the definitions' loader; return one ``DataFile`` per file, in name order."""
    files = []
    for name in sorted(sources):
        doc = Document()
        read = _read_file(doc, name, sources[name])
        data = None
        if read is not None:
            data, reader = read
            doc.values, doc.keys = reader.values, reader.keys
        files.append(DataFile(name, data, doc))
    return files


def load_folder(root):
    """Load a solution folder; a missing folder becomes a located problem, not an exception."""
    try:
        sources = read_folder(root)
    except FileNotFoundError:
        doc = Document()
        doc.problems.append(Problem("E007", f"solution folder '{root}' does not exist", Loc(str(root)),
                                    "set CABINET_SOLUTION or pass the path of a solution folder"))
        return doc
    return load_sources(sources)
