"""Round-trip YAML editing: an edit changes its node and leaves every other byte as written."""
import difflib

import pytest

from engine.builder import edits
from engine.builder.yamledit import Workspace, guess_indent, plain_is_text, to_yaml
from engine.compiler import compile_folder, compile_sources
from engine.loader import load_sources

SOURCES = compile_folder("solutions/resort").sources

CONSULTANT = """\
# Our club's members: kept by the front office.
solution:
  name: club
  languages: [en, ru]
  default_language: en

entities:
  # People who pay the fee.
  member:
    label: {en: Member, ru: Участник}   # shown in the menu
    plural: {en: Members, ru: Участники}
    title: name
    fields:
      name: {type: string, max_length: 100, required: true, label: {en: Name}}

      # How to reach them.
      email: {type: email, label: {en: 'Email'}}
      phone: {type: phone, label: {en: "Phone"}}
      # Points are earned per visit.
      points:
        type: integer
        default: 0
        label: {en: Points}
"""


def changed_lines(old, new):
    """The lines removed and added between two texts (what an edit touched)."""
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def run(edit, sources=None):
    return edits.run(sources or {"club.yaml": CONSULTANT}, edit)


def test_every_resort_file_round_trips_unchanged():
    ws = Workspace(SOURCES)
    for name in ws.files():
        ws.doc(name)
        assert ws.dump(name) == SOURCES[name], name


def test_indentation_is_read_from_the_file():
    assert guess_indent(SOURCES["entities.yaml"]) == (2, 2)
    assert guess_indent("a:\n    b: 1\n    c:\n    - x\n") == (4, 0)


def test_add_field_touches_one_line_and_keeps_comments_and_quotes():
    new = run({"op": "add_field", "entity": "member", "name": "allergies", "type": "text",
               "label": {"en": "Allergies", "ru": "Аллергии"}})["club.yaml"]
    assert changed_lines(CONSULTANT, new) == ([], ["      allergies: {type: text, label: {en: Allergies, ru: Аллергии}}"])


def test_update_rename_move_and_remove_keep_everything_else():
    sources = {"club.yaml": CONSULTANT}
    sources = run({"op": "update_field", "entity": "member", "field": "email", "required": True}, sources)
    assert changed_lines(CONSULTANT, sources["club.yaml"]) == (
        ["      email: {type: email, label: {en: 'Email'}}"],
        ["      email: {type: email, required: true, label: {en: 'Email'}}"])
    renamed = run({"op": "rename_field", "entity": "member", "field": "name", "new_name": "full_name"})["club.yaml"]
    assert changed_lines(CONSULTANT, renamed) == (
        ["    title: name", "      name: {type: string, max_length: 100, required: true, label: {en: Name}}"],
        ["    title: full_name", "      full_name: {type: string, max_length: 100, required: true, label: {en: Name}}"])
    removed = run({"op": "remove_field", "entity": "member", "field": "phone"})["club.yaml"]
    assert changed_lines(CONSULTANT, removed) == (['      phone: {type: phone, label: {en: "Phone"}}'], [])
    assert "      # Points are earned per visit.\n      points:" in removed
    moved = run({"op": "move_field", "entity": "member", "field": "points", "to_index": 0})["club.yaml"]
    assert "    fields:\n      # Points are earned per visit.\n      points:\n        type: integer" in moved
    assert "# How to reach them." in moved and "# shown in the menu" in moved
    assert compile_sources({"club.yaml": moved}).spec.entity("member").field_names[0] == "points"


def test_removing_the_field_before_a_comment_keeps_the_comment():
    removed = run({"op": "remove_field", "entity": "member", "field": "name"})["club.yaml"]
    assert "      # How to reach them.\n      email:" in removed
    assert "# Our club's members: kept by the front office." in removed
    assert "title: name" not in removed


@pytest.mark.parametrize("text", [
    "{{ 7*7 }}", "{% include 'x' %}", "<script>alert(1)</script>", "Tom & Jerry: *the* [best]",
    "yes", "no", "on", "null", "~", "true", "1_000", "0x1F", "1e3", "12:30", "2024-01-01", "- dash",
    "# not a comment", "'quoted'", '"double"', "a: b", "!!python/object:os.system", "&anchor", "*alias",
    "back\\slash", "%percent", "@at", "`tick`", "  spaced  ", "Ёлка — ёлка", "=cmd|' /C calc'!A0",
])
def test_labels_with_specials_round_trip_as_data(text):
    new = run({"op": "add_field", "entity": "member", "name": "odd", "type": "string",
               "label": {"en": text.strip() or "x", "ru": "Ок"}})
    data = load_sources(new).data
    assert data["entities"]["member"]["fields"]["odd"]["label"]["en"] == text.strip()
    compiled = compile_sources(new)
    assert not compiled.errors, compiled.errors
    assert compiled.spec.entity("member").field("odd").label.get("en") == text.strip()


def test_plain_texts_stay_plain_and_ambiguous_ones_are_quoted():
    assert plain_is_text("Allergies") and not plain_is_text("1_000") and not plain_is_text("true")
    assert to_yaml("Allergies") == "Allergies" and type(to_yaml("1_000")).__name__ == "DoubleQuotedScalarString"


def test_a_multiline_info_page_is_a_literal_block():
    content = "## Hello\nLine two with: colon\n"
    new = edits.run(SOURCES, {"op": "add_page", "name": "news", "kind": "info", "title": {"en": "News"},
                              "roles": ["guest"], "content": {"en": content}})
    assert "    content:\n      en: |\n        ## Hello\n        Line two with: colon\n" in new["pages.yaml"]
    assert compile_sources(new).spec.page("news").content.get("en") == content


def test_an_unreadable_file_is_an_edit_error_not_a_crash():
    with pytest.raises(edits.EditError) as caught:
        run({"op": "set_branding", "primary": "#000000"}, {"club.yaml": "solution: [unclosed\n"})
    assert "sources" in caught.value.fields
