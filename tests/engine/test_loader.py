"""Loading YAML keeps places; anything a user can write becomes a located problem, never a traceback."""
import re

import pytest

from engine.loader import MAX_FILE_BYTES, load_folder, load_sources


def problems(sources):
    return [str(p) for p in load_sources(sources).problems]


def test_values_and_keys_keep_file_line_column():
    doc = load_sources({"a.yaml": "solution:\n  name: x\nentities:\n  guest:\n    fields: {a: string}\n"})
    assert str(doc.loc(("entities", "guest", "fields", "a"))) == "a.yaml:5:17"
    assert str(doc.loc(("entities", "guest"), key=True)) == "a.yaml:4:3"
    # an unknown deeper path falls back to its nearest known parent, keeping the full path
    loc = doc.loc(("entities", "guest", "fields", "a", "type"))
    assert (str(loc), loc.path) == ("a.yaml:5:17", "entities.guest.fields.a.type")


def test_yaml_11_surprises_are_off():
    doc = load_sources({"a.yaml": "x: [en, no, on, yes, 2024-01-31, true, 010, 0x1f, 1_000]\n"})
    assert doc.data["x"] == ["en", "no", "on", "yes", "2024-01-31", True, 8, 31, 1000]


def test_syntax_error_is_located():
    assert problems({"a.yaml": "a: [1,\n"}) == [
        "a.yaml:2:1: cabinet.E001 while parsing a flow node; expected the node content, but found '<stream end>' "
        "(hint: check indentation, colons and quotes around here)"]


def test_control_characters_are_located():
    assert problems({"a.yaml": "a: 1\nb: x\x07\n"}) == [
        "a.yaml:2:5: cabinet.E001 character U+0007 is not allowed in YAML "
        "(hint: remove the control character)"]


def test_bad_bytes_are_located():
    assert problems({"a.yaml": b"a: 1\nb: caf\xe9\n"}) == [
        "a.yaml:2:7: cabinet.E002 byte 0xe9 at offset 11 is not valid UTF-8 (hint: save the file as UTF-8)"]


def test_duplicate_key_and_non_string_key():
    assert problems({"a.yaml": "a: 1\na: 2\n3: x\n"}) == [
        "a.yaml:2:1: cabinet.E003 'a' is defined twice in the same mapping (hint: remove or rename one of the two keys)",
        "a.yaml:3:1: cabinet.E006 '<top>' has a key '3' that is not a plain string (hint: quote the key, e.g. \"1\": ...)",
    ]


def test_empty_file_is_a_warning():
    assert problems({"a.yaml": "# nothing yet\n"}) == [
        "a.yaml:1:1: cabinet.W001 file is empty (hint: add definitions or delete it)"]


def test_huge_file_is_refused_without_parsing():
    big = b"a: " + b"x" * (MAX_FILE_BYTES + 1)
    assert problems({"a.yaml": big}) == [
        f"a.yaml:1:1: cabinet.E004 file is {len(big)} bytes, more than the limit of {MAX_FILE_BYTES} "
        "(hint: split the definitions over several files)"]


def test_alias_bomb_and_recursive_alias():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    assert problems({"a.yaml": bomb}) == [
        "a.yaml:1:1: cabinet.E005 file cannot be expanded: more than 200000 values after expanding aliases "
        "(hint: use fewer nested aliases)"]
    assert problems({"b.yaml": "a: &a [*a]\n"}) == [
        "b.yaml:1:1: cabinet.E005 file cannot be expanded: an alias refers to a node that contains it "
        "(hint: use fewer nested aliases)"]


def test_deep_nesting_is_a_problem_not_a_crash():
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    (problem,) = load_sources({"a.yaml": text}).problems
    assert problem.code in ("E001", "E005")


def test_merge_keys_work_and_explicit_keys_win():
    doc = load_sources({"a.yaml": "base: &b {type: string, required: true}\nx:\n  <<: *b\n  required: false\n"})
    assert doc.data["x"] == {"type": "string", "required": False}


def test_names_merge_across_files_and_duplicates_point_at_both():
    doc = load_sources({
        "a.yaml": "entities:\n  guest: {fields: {a: string}}\n",
        "b.yaml": "entities:\n  room: {fields: {n: string}}\n  guest: {fields: {b: string}}\n",
    })
    assert sorted(doc.data["entities"]) == ["guest", "room"]
    assert [str(p) for p in doc.problems] == [
        "b.yaml:3:3: cabinet.E110 'entities.guest' is defined twice "
        "(hint: the first definition is at a.yaml:2:3; rename or remove one)"]
    assert doc.data["entities"]["guest"] == {"fields": {"a": "string"}}


def test_solution_section_twice():
    doc = load_sources({"a.yaml": "solution: {name: a}\n", "b.yaml": "solution: {name: b}\n"})
    assert [str(p) for p in doc.problems] == [
        "b.yaml:1:1: cabinet.E111 'solution' is defined in more than one file (hint: keep one; the other is at a.yaml:1:1)"]


def test_missing_folder_and_empty_folder(tmp_path):
    assert [str(p) for p in load_folder(tmp_path / "nope").problems] == [
        f"{tmp_path / 'nope'}: cabinet.E007 solution folder '{tmp_path / 'nope'}' does not exist "
        "(hint: set CABINET_SOLUTION or pass the path of a solution folder)"]
    assert [p.code for p in load_folder(tmp_path).problems] == ["E007"]


def test_data_folders_and_hidden_files_are_not_definitions(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo.yaml").write_text("users: []\n")
    (tmp_path / ".hidden.yaml").write_text("x: 1\n")
    (tmp_path / "s.yml").write_text("solution: {name: s}\n")
    assert load_folder(tmp_path).sources == {"s.yml": "solution: {name: s}\n"}


# --- one loader, one behaviour (with or without libyaml) ---------------------------------------

EDGE_CASES = [
    "confirm: {en: Cancel this order?, ru: Отменить заказ?}\n",
    "a: [x?, y?z, '?']\n",
    "a: {b: what?}\n",
    "a: b?c\n",
    "a: [1, 2]\nb: {c: d}\n",
    "a: 'x'\nb: \"y\"\nc: |\n  multi\n  line\n",
    "a: &x {b: 1}\nc: *x\n",
    "a: no\nb: 2024-01-31\nc: 0o17\nd: 0x1f\ne: 1_000\n",
    "a: [\n",
    "a: b: c\n",
    "a:\n  - b\n - c\n",
]


def _outcome(load, text):
    doc = load({"a.yaml": text})
    return doc.data, [str(p) for p in doc.problems]


def test_the_loader_is_pure_python_whatever_pyyaml_was_built_with():
    import yaml

    from engine.loader import StrictLoader

    assert not any(base.__module__.startswith("yaml._yaml") or "CParser" in base.__name__
                   for base in StrictLoader.__mro__)
    assert issubclass(StrictLoader, yaml.reader.Reader)


def test_same_results_with_libyaml_hidden(monkeypatch):
    """Reload the loader as if PyYAML had no libyaml: the resort and the edge cases read exactly the same."""
    import importlib

    import yaml

    from engine import loader
    from engine.loader import read_folder

    resort = read_folder("solutions/resort")
    cases = [*EDGE_CASES, *(raw.decode() for raw in resort.values())]
    before = [_outcome(loader.load_sources, text) for text in cases]
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    monkeypatch.delattr(yaml, "CLoader", raising=False)
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    try:
        pure = importlib.reload(loader)
        assert [_outcome(pure.load_sources, text) for text in cases] == before
    finally:
        monkeypatch.undo()
        importlib.reload(loader)


def test_question_marks_in_flow_scalars_read_as_libyaml_reads_them():
    """The resort's own ``confirm: {en: Cancel this order?, ...}`` is text for both loaders."""
    doc = load_sources({"a.yaml": EDGE_CASES[0] + EDGE_CASES[1].replace("a:", "b:") + EDGE_CASES[2].replace("a:", "c:")})
    assert doc.problems == []
    assert doc.data == {"confirm": {"en": "Cancel this order?", "ru": "Отменить заказ?"},
                        "b": ["x?", "y?z", "?"], "c": {"b": "what?"}}


def test_the_pure_and_the_c_parser_agree_on_the_edge_cases_where_libyaml_is_right():
    """libyaml (>= 0.2.5) with the same resolvers reads every edge case as our loader does."""
    import yaml

    from engine.loader import StrictLoader

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML has no libyaml here")

    class CStrict(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    CStrict.yaml_implicit_resolvers = StrictLoader.yaml_implicit_resolvers
    for text in EDGE_CASES:
        doc = load_sources({"a.yaml": text})
        try:
            expected = yaml.load(text, Loader=CStrict)  # noqa: S506 - safe constructor, our resolvers
        except yaml.YAMLError:
            assert [p.code for p in doc.problems] == ["E001"], text
            continue
        assert doc.problems == [] and doc.data == expected, text


def test_data_files_use_the_same_loader():
    from engine.loader import load_data

    (data,) = load_data({"data/demo.yaml": EDGE_CASES[0]})
    assert data.data == {"confirm": {"en": "Cancel this order?", "ru": "Отменить заказ?"}} and data.doc.problems == []


# --- odd scalars: every resolver or constructor failure is a located problem ----------------------

@pytest.mark.parametrize(("value", "code", "message"), [
    ("0x_", "E010", "'a' is '0x_', which cannot be read as an int (ValueError: invalid literal for int() with base 16: "
                    "'')"),
    ("0b_", "E010", "'a' is '0b_', which cannot be read as an int (ValueError: invalid literal for int() with base 2: "
                    "'')"),
    ("!!int abc", "E010", "'a' is 'abc', which cannot be read as an int (ValueError: invalid literal for int() with "
                          "base 10: 'abc')"),
    ("!!int ''", "E010", "'a' is '', which cannot be read as an int (IndexError: string index out of range)"),
    ("!!float .", "E010", "'a' is '.', which cannot be read as a float (ValueError: could not convert string to "
                          "float: '.')"),
    ("!!bool abc", "E010", "'a' is 'abc', which cannot be read as a bool (KeyError: 'abc')"),
    ("!!timestamp nope", "E010", "'a' is 'nope', which cannot be read as a timestamp (AttributeError: 'NoneType' "
                                 "object has no attribute 'groupdict')"),
    ("!!timestamp 2026-13-45", "E010", "'a' is '2026-13-45', which cannot be read as a timestamp (ValueError: month "
                                       "must be in 1..12)"),
    ("1" * 5000, "E010", "'a' is '111111111111111111111111111111111111111111111111111111111...', which cannot be read "
                         "as an int (ValueError: Exceeds the limit (4300 digits) for integer string conver...)"),
    (".inf", "E008", "'a' is '.inf', a number that is not finite"),
    (".NaN", "E008", "'a' is '.NaN', a number that is not finite"),
    ("!!float 1e999", "E008", "'a' is '1e999', a number that is not finite"),
    ("!!timestamp 2026-01-31", "E009", "'a' is tagged 'tag:yaml.org,2002:timestamp', which gives a date; the "
                                       "definitions hold only text, numbers, booleans, lists and mappings"),
    ("!!binary AAAA", "E009", "'a' is tagged 'tag:yaml.org,2002:binary', which gives a bytes; the definitions hold "
                              "only text, numbers, booleans, lists and mappings"),
    ("!!set {x}", "E009", "'a' is tagged 'tag:yaml.org,2002:set', which the definitions do not take"),
    ("!!omap [{x: 1}]", "E009", "'a' is tagged 'tag:yaml.org,2002:omap', which the definitions do not take"),
    ("!custom [1]", "E009", "'a' is tagged '!custom', which the definitions do not take"),
    ("!custom x", "E001", "'a' cannot be read: could not determine a constructor for the tag '!custom'"),
])
def test_odd_scalars_are_located_problems(value, code, message):
    doc = load_sources({"a.yaml": f"a: {value}\n"})
    assert [(p.code, p.message, p.loc.line, p.loc.column) for p in doc.problems] == [(code, message, 1, 4)]


# --- every problem is one line, whatever the user typed ---------------------------------------

@pytest.mark.parametrize("key", ["a\nb", "a\rb", "\x1b[31mred", "k\u2028", "k\u2029", "k\x85", "k\u202e", "k\x00",
                                 "k\x7f", "k\u200b", "é\tж"])
def test_problem_lines_escape_every_control_or_separator_character(key):
    from tests.conftest import compile_yaml

    quoted = key.encode("unicode_escape").decode().replace('"', '\\"')
    result = compile_yaml(f'entities:\n  "{quoted}":\n    fields: {{"{quoted}": string}}\n')
    lines = [str(p) for p in result.problems]
    assert lines and all(len(line.splitlines()) == 1 for line in lines)
    assert all(not any(ch in line for ch in "\n\r\x1b\u2028\u2029\x85\u202e\x00\x7f\u200b\t") for line in lines)
    assert all(re.match(r"^solution\.yaml:\d+:\d+: cabinet\.E\d{3} ", line) for line in lines)


def test_escape_keeps_letters_and_escapes_controls():
    from engine.errors import Loc, Problem, escape

    assert escape("Отменить é 你好 ok") == "Отменить é 你好 ok"
    assert escape("a\nb\x1b[0m\u2028\t") == "a\\x0ab\\x1b[0m\\u2028\\x09"
    assert str(Problem("E001", "bad\nkey", Loc("x\ny.yaml", 1, 2, "p"), "fix\x1b")) == (
        "x\\x0ay.yaml:1:2: cabinet.E001 bad\\x0akey (hint: fix\\x1b)")
