"""Translatable content: a column per language, planned and migrated like any column, data kept."""
import pytest
from django.db import connection
from django.utils import translation

from engine import content
from engine.migrate import MigrationError
from tests.conftest import compile_yaml
from tests.engine.test_migrate import columns, refused, rows

PLAIN = """
entities:
  service:
    title: name
    search: [name]
    fields:
      name: {type: string, max_length: 80, required: true}
      description: text
      price: money
"""
TRANSLATED = PLAIN.replace("required: true}", "required: true, translate: true}").replace(
    "description: text", "description: {type: text, translate: true}")


def publish_with(publish_yaml, text, languages="[en, ru]", **kw):
    from engine.migrate import publish

    compiled = compile_yaml(text, header=f"solution:\n  name: test\n  languages: {languages}\n")
    return publish(compiled.raise_for_errors(), compiled.sources, **kw)


def test_translate_adds_a_column_per_other_language_and_keeps_the_data(publish_yaml):
    built, _ = publish_yaml(PLAIN)
    built.model("service").objects.create(name="Massage", description="An hour of calm", price=50)
    built, plan = publish_yaml(TRANSLATED)
    texts = [op.text for op in plan.operations]
    assert "add column cabinet_service.name_ru (string)" in texts
    assert "add column cabinet_service.description_ru (text)" in texts
    assert not plan.refusals and not plan.loses_data
    cols = columns("cabinet_service")
    assert {"name", "name_ru", "description", "description_ru"} <= set(cols)
    assert cols["name_ru"].null_ok is False  # optional texts store '' as every text does
    assert rows("service", "name", "name_ru", "description") == [("Massage", "", "An hour of calm")]
    service = built.model("service")
    row = service.objects.get()
    row.name_ru = "Массаж"
    row.save()
    name = built.spec.entity("service").field("name")
    assert content.text(row, name, "ru") == "Массаж"
    assert content.text(row, name, "en") == "Massage"
    assert content.text(row, built.spec.entity("service").field("description"), "ru") == "An hour of calm"  # fallback


def test_a_new_language_adds_columns_and_dropping_one_is_a_refused_loss(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    built.model("service").objects.create(name="Massage", name_ru="Массаж")
    built, plan = publish_with(publish_yaml, TRANSLATED, "[en, ru, pt-br]")
    assert sorted(op.text for op in plan.operations) == [
        "add column cabinet_service.description_pt_br (text)", "add column cabinet_service.name_pt_br (string)"]
    problem = refused(lambda text, allow_data_loss=False: publish_with(None, text, "[en, pt-br]",
                                                                         allow_data_loss=allow_data_loss),
                      TRANSLATED, "M001")
    assert problem.message == "removing the 'ru' translation of 'service.name' deletes the values of 1 row(s)"
    assert problem.hint == "keep 'translate: true' and the language, or pass --allow-data-loss"
    built, plan = publish_with(publish_yaml, TRANSLATED, "[en, pt-br]", allow_data_loss=True)
    assert "name_ru" not in columns("cabinet_service")
    assert rows("service", "name") == [("Massage",)]


def test_removing_translate_from_a_filled_field_is_refused_unless_allowed(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    built.model("service").objects.create(name="Massage", name_ru="Массаж")
    problem = refused(publish_yaml, PLAIN, "M001")
    assert "'ru' translation of 'service.name'" in problem.message
    built, plan = publish_yaml(PLAIN, allow_data_loss=True)
    assert rows("service", "name") == [("Massage",)]
    assert "name_ru" not in columns("cabinet_service")


def test_an_empty_translation_column_drops_freely(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    built.model("service").objects.create(name="Massage")
    built, plan = publish_yaml(PLAIN)
    assert not plan.refusals
    assert "drop column cabinet_service.name_ru (0 rows hold a value)" in [op.text for op in plan.operations]


def test_a_renamed_translated_field_renames_its_language_columns(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    built.model("service").objects.create(name="Massage", name_ru="Массаж")
    renamed = TRANSLATED.replace("title: name", "title: title").replace("search: [name]", "search: [title]").replace(
        "      name: {", "      title: {renamed_from: name, ")
    built, plan = publish_yaml(renamed)
    assert not plan.loses_data
    assert rows("service", "title", "title_ru") == [("Massage", "Массаж")]


def test_translated_values_are_searched_in_every_language_and_read_in_the_active_one(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    service = built.model("service")
    service.objects.create(name="Massage", name_ru="Массаж")
    service.objects.create(name="Sauna")
    entity = built.spec.entity("service")
    assert content.search_names(entity, ["name", "price"]) == ["name", "name_ru", "price"]
    assert content.form_names(entity, ["description"]) == ["description", "description_ru"]
    with translation.override("ru"):
        assert [str(r) for r in service.objects.order_by("id")] == ["Массаж", "Sauna"]  # titles too
        ordered = service.objects.order_by(content.order_key(entity, "-name"))
        assert [r.name for r in ordered] == ["Massage", "Sauna"]  # by 'Массаж' and 'Sauna': Cyrillic sorts last
    with translation.override("en"):
        assert [str(r) for r in service.objects.order_by("id")] == ["Massage", "Sauna"]
        ordered = service.objects.order_by(content.order_key(entity, "-name"))
        assert [r.name for r in ordered] == ["Sauna", "Massage"]


def test_language_columns_that_clash_with_fields_are_located_errors():
    result = compile_yaml("""
    entities:
      service:
        fields:
          name: {type: string, translate: true}
          name_ru: string
          name_translations: string
          code: {type: string, sequence: "S-{seq}", translate: true}
          count: {type: integer, translate: true}
    """)
    found = {(p.code, p.loc.line, p.message) for p in result.problems}
    assert ("E940", 7, "'service.name' is translated and needs the name 'name_ru' for its 'ru' values, but "
            "'service.name_ru' is a field") in found
    assert ("E940", 7, "'service.name' is translated and needs the name 'name_translations' for the API's key of "
            "its translations, but 'service.name_translations' is a field") in found
    assert ("E941", 10, "'service.code' is numbered by a sequence, so it cannot be translated") in found
    assert any(p.code == "E212" and "translate" in p.message and p.loc.line == 11 for p in result.problems)


def test_translate_on_a_one_language_solution_makes_no_columns():
    spec = compile_yaml(TRANSLATED, header="solution:\n  name: test\n  languages: [ru]\n").raise_for_errors()
    name = spec.entity("service").field("name")
    assert name.translate and name.translations == ()
    assert content.stored_fields(spec.entity("service")) is spec.entity("service")


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_keeps_data_through_translation_changes(publish_yaml):
    test_translate_adds_a_column_per_other_language_and_keeps_the_data(publish_yaml)
    with pytest.raises(MigrationError):
        publish_yaml(PLAIN)
    assert connection.vendor == "postgresql"


def test_changing_the_default_language_of_filled_translated_fields_is_refused(publish_yaml):
    built, _ = publish_yaml(TRANSLATED)
    built.model("service").objects.create(name="Massage", name_ru="Массаж")
    from engine.migrate import publish

    compiled = compile_yaml(TRANSLATED, header="solution:\n  name: test\n  languages: [en, ru]\n  "
                                               "default_language: ru\n")
    with pytest.raises(MigrationError) as info:
        publish(compiled.raise_for_errors(), compiled.sources, allow_data_loss=True)
    assert [p.code for p in info.value.problems] == ["M005"]
    assert info.value.problems[0].message == ("'service.name' holds 'en' texts in 1 row(s); with 'ru' as the default "
                                              "language they would read as 'ru'")
    assert rows("service", "name", "name_ru") == [("Massage", "Массаж")]
