"""Loading YAML keeps places; anything a user can write becomes a located problem, never a traceback."""
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
