"""Round-trip editing of a solution's YAML files: change one node, keep everything else as written.

A ``Workspace`` reads a draft's files with ruamel.yaml's round-trip loader on demand, finds the file
and node holding a YAML path (sections may be split over files, one item per file), and dumps only
the files an edit touched, with the file's own indentation; comments, key order, flow or block style
and quotes of everything the edit did not touch stay as they were. Values an edit writes are made
with ``to_yaml``, which quotes any text the engine's loader would otherwise read as something else.
"""
from __future__ import annotations

import io

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from ..loader import StrictLoader, path_text
from .errors import EditError

WIDTH = 4096  # never fold a long line the consultant wrote on one line
STR_TAG = "tag:yaml.org,2002:str"


def _yaml(indent=2, offset=2):
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = WIDTH
    y.indent(mapping=indent, sequence=indent + offset, offset=offset)
    return y


def guess_indent(text):
    """The file's (mapping indent, dash offset of block lists), from its first nested block of each."""
    indent = offset = None
    lines = [(len(line) - len(line.lstrip(" ")), line.strip()) for line in text.splitlines()]
    lines = [(n, body) for n, body in lines if body and not body.startswith("#")]
    for (n, body), (m, following) in zip(lines, lines[1:], strict=False):
        if not body.endswith(":") or m < n or (m == n and not following.startswith("- ")):
            continue
        if following.startswith("- "):
            offset = m - n if offset is None else offset
        elif indent is None:
            indent = m - n
        if indent is not None and offset is not None:
            break
    return indent or 2, 2 if offset is None else offset


def plain_is_text(value):
    """Whether the engine's loader reads ``value`` written unquoted as that same text."""
    if not value or value != value.strip() or "\n" in value:
        return False
    tag = StrictLoader.resolve(StrictLoader, yaml.ScalarNode, value, (True, False))
    return tag == STR_TAG


def to_yaml(value, flow=True):
    """Turn plain data into round-trip nodes: small mappings and lists of scalars in flow style,
    texts quoted whenever the loader (YAML 1.1 rules, unlike ruamel's 1.2) could misread them."""
    if isinstance(value, str):
        if "\n" in value:
            return LiteralScalarString(value)
        return value if plain_is_text(value) and _safe_plain(value) else DoubleQuotedScalarString(value)
    if isinstance(value, dict):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_yaml(item, flow=flow)
        if flow and _flat(value.values()):
            node.fa.set_flow_style()
        return node
    if isinstance(value, (list, tuple)):
        node = CommentedSeq([to_yaml(item, flow=True) for item in value])
        if flow and _flat(value):
            node.fa.set_flow_style()
        return node
    return value


def _flat(values):
    """Whether values fit a flow collection: scalars on one line, or small collections of them."""
    return all(_small(v) if isinstance(v, (dict, list)) else not (isinstance(v, str) and "\n" in v) for v in values)


def _small(value):
    return all(not isinstance(v, (dict, list)) and not (isinstance(v, str) and "\n" in v)
               for v in (value.values() if isinstance(value, dict) else value))


def _safe_plain(text):
    """Leave plain only texts with no YAML indicator anywhere (ruamel decides the rest correctly, but
    quoting what a person typed with ':', '#', '{', quotes or '&' keeps the file readable and safe)."""
    return not any(ch in text for ch in ":#{}[],&*!|>'\"%@`\\") and not text.startswith(("- ", "? ")) \
        and text not in ("-", "?")


def to_plain(node):
    """Turn round-trip nodes back into plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def is_flow(node):
    """Whether a mapping or list is written in flow style (``{...}`` / ``[...]``)."""
    return bool(getattr(node, "fa", None) and node.fa.flow_style())


def rename_key(mapping, old, new):
    """Rename ``old`` to ``new`` in place, keeping its position and the comments attached to it."""
    position = list(mapping).index(old)
    value = mapping[old]
    comment = mapping.ca.items.pop(old, None)
    del mapping[old]
    mapping.insert(position, new, value)
    if comment is not None:
        mapping.ca.items[new] = comment


def move_key(mapping, key, index):
    """Move ``key`` to position ``index`` in place, with its comments."""
    value = mapping[key]
    comment = mapping.ca.items.pop(key, None)
    del mapping[key]
    mapping.insert(index, key, value)
    if comment is not None:
        mapping.ca.items[key] = comment


def delete_key(mapping, key):
    """Remove ``key``; a comment line that followed its value is kept by handing it to the previous key."""
    keys = list(mapping)
    position = keys.index(key)
    comment = mapping.ca.items.pop(key, None)
    del mapping[key]
    trailing = comment[2] if comment and len(comment) > 2 else None
    if trailing is not None and position > 0 and "\n#" in ("\n" + trailing.value.lstrip(" ").split("\n", 1)[-1]):
        previous = keys[position - 1]
        entry = mapping.ca.items.setdefault(previous, [None, None, None, None])
        if entry[2] is None:
            entry[2] = trailing


class Workspace:
    """A draft's files opened for editing; ``result()`` gives the new ``{path: text}``."""

    def __init__(self, sources):
        self.sources = dict(sources)
        self.docs = {}
        self.styles = {}
        self.changed = set()

    def files(self):
        return sorted(name for name in self.sources if name.endswith((".yaml", ".yml")))

    def doc(self, name):
        """The round-trip document of file ``name`` (read once)."""
        if name not in self.docs:
            text = self.sources[name]
            indent, offset = guess_indent(text)
            try:
                data = _yaml(indent, offset).load(text)
            except YAMLError as exc:
                raise EditError({"sources": [f"{name} cannot be read as YAML ({str(exc).splitlines()[0]}); "
                                             "fix it in the YAML editor first"]}) from exc
            self.styles[name] = (indent, offset)
            self.docs[name] = data if data is not None else CommentedMap()
        return self.docs[name]

    def section_files(self, section):
        """The files whose top mapping holds ``section``, in name order."""
        return [name for name in self.files()
                if isinstance(self.doc(name), dict) and isinstance(self.doc(name).get(section), dict)]

    def items(self, section):
        """Every item of a named section across files: {name: (file, node)}."""
        found = {}
        for name in self.section_files(section):
            for key, node in self.doc(name)[section].items():
                found.setdefault(str(key), (name, node))
        return found

    def merged(self, section):
        """A named section's items as one mapping (read-only view)."""
        return {key: node for key, (_, node) in self.items(section).items()}

    def locate(self, path):
        """Return (file, node) of a YAML path such as ('entities', 'guest', 'fields'), or (None, None)."""
        if not path:
            return None, None
        section = path[0]
        if section == "solution":
            files = [n for n in self.files() if isinstance(self.doc(n), dict) and "solution" in self.doc(n)]
            if not files:
                return None, None
            file, node = files[0], self.doc(files[0])["solution"]
            rest = path[1:]
        else:
            item = self.items(section).get(path[1]) if len(path) > 1 else None
            if item is None:
                return None, None
            (file, node), rest = item, path[2:]
        for part in rest:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None, None
        return file, node

    def get(self, path, default=None):
        _, node = self.locate(path)
        return default if node is None else node

    def file_for(self, section, near=None):
        """The file a new item of ``section`` goes in: the one holding ``near`` (an item name), else the
        first one holding the section, else a new ``<section>.yaml``."""
        if near is not None:
            file, _ = self.locate((section, near))
            if file:
                return file
        files = self.section_files(section)
        if files:
            return files[0]
        name = f"{section}.yaml"
        while name in self.sources and isinstance(self.doc(name), dict) and section in self.doc(name):
            name = f"builder_{name}"
        if name not in self.sources:
            self.sources[name] = ""
        doc = self.doc(name)
        doc[section] = CommentedMap()
        self.touch(name)
        return name

    def section(self, file, section):
        """The ``section`` mapping of ``file`` (made when the file has none)."""
        doc = self.doc(file)
        if not isinstance(doc.get(section), dict):
            doc[section] = CommentedMap()
        return doc[section]

    def touch(self, file):
        self.changed.add(file)

    def touch_path(self, path):
        file, _ = self.locate(path)
        if file:
            self.touch(file)
        return file

    def dump(self, name):
        indent, offset = self.styles.get(name, (2, 2))
        out = io.StringIO()
        _yaml(indent, offset).dump(self.docs[name], out)
        return out.getvalue()

    def result(self):
        """The sources with every touched file dumped again (the others exactly as they were)."""
        new = dict(self.sources)
        for name in self.changed:
            new[name] = self.dump(name)
        return new


__all__ = ["Workspace", "delete_key", "is_flow", "move_key", "path_text", "rename_key", "to_plain", "to_yaml"]
