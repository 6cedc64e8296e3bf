"""Translated content on pages and the reader's language: saved at login, the solution's default otherwise."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test.utils import CaptureQueriesContext

from engine.models import UserPreference
from tests.conftest import compile_yaml

SHOP = """
entities:
  product:
    label: {en: Product, ru: Товар}
    title: name
    search: [name]
    fields:
      name: {type: string, max_length: 80, required: true, translate: true, label: {en: Name, ru: Название}}
      description: {type: markdown, translate: true, label: {en: Description, ru: Описание}}
      price: {type: money, label: {en: Price, ru: Цена}}
roles:
  clerk:
    label: {en: Clerk, ru: Продавец}
    staff: true
    home: products
    entities:
      product: {actions: all, scope: all}
  client:
    label: {en: Client, ru: Клиент}
    home: products
    entities:
      product: {actions: [list, view], scope: all}
pages:
  products:
    kind: list
    entity: product
    title: {en: Products, ru: Товары}
    roles: [clerk, client]
    columns: [name, price]
  product:
    kind: detail
    entity: product
    title: {en: Product, ru: Товар}
    roles: [clerk, client]
    sections:
      - {title: {en: About, ru: О товаре}, fields: [name, description, price]}
  edit_product:
    kind: form
    entity: product
    title: {en: Edit product, ru: Изменить товар}
    roles: [clerk]
    fields: [name, description, price]
"""


def header(default="en"):
    return f"solution:\n  name: shop\n  languages: [en, ru]\n  default_language: {default}\n"


@pytest.fixture
def shop(schema):
    from engine.migrate import publish

    def run(default="en"):
        compiled = compile_yaml(SHOP, header=header(default))
        built, _ = publish(compiled.raise_for_errors(), compiled.sources)
        product = built.model("product")
        en, ru = ("name", "name_ru") if default == "en" else ("name_en", "name")  # the default's is 'name'
        product.objects.create(**{en: "Tea", ru: "Чай"}, price=5, **(
            {"description": "**Green** tea", "description_ru": "**Зелёный** чай"} if default == "en" else {}))
        product.objects.create(**{"name": "Coffee" if default == "en" else "Кофе"}, price=7)  # one language only
        return built
    return run


def person(username, role, language=None):
    user = get_user_model().objects.create_user(username, password=f"{username}-pw-123")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    if language is not None:
        UserPreference.objects.create(user=user, language=language)
    return user


def test_readers_see_their_language_with_a_fallback_on_lists_details_and_titles(shop, client):
    built = shop()
    client.force_login(person("cleo", "client"))
    tea = built.model("product").objects.get(name="Tea")
    client.cookies.load({"django_language": "ru"})
    html = client.get("/p/products/").content.decode()
    assert "Чай" in html and "Coffee" in html and ">Tea<" not in html
    detail = client.get(f"/p/product/{tea.pk}/").content.decode()
    assert "Чай" in detail and "Зелёный" in detail and "Green" not in detail
    client.cookies.load({"django_language": "en"})
    html = client.get("/p/products/").content.decode()
    assert "Tea" in html and "Чай" not in html


def test_search_finds_a_row_by_any_of_its_languages_and_sorting_uses_the_readers(shop, client):
    shop()
    client.force_login(person("cleo", "client"))
    client.cookies.load({"django_language": "en"})
    found = client.get("/p/products/?q=Чай").content.decode()
    assert "Tea" in found and "Coffee" not in found
    client.cookies.load({"django_language": "ru"})
    ordered = client.get("/p/products/?sort=name").content.decode()
    assert ordered.index("Coffee") < ordered.index("Чай")  # 'Coffee' < 'Чай', though 'Tea' < ... holds in en too
    descending = client.get("/p/products/?sort=-name").content.decode()
    assert descending.index("Чай") < descending.index("Coffee")


def test_list_query_count_does_not_grow_with_translations(shop, client):
    built = shop()
    client.force_login(person("cleo", "client"))
    client.cookies.load({"django_language": "ru"})
    client.get("/p/products/")
    with CaptureQueriesContext(__import__("django.db").db.connection) as few:
        client.get("/p/products/")
    for i in range(10):
        built.model("product").objects.create(name=f"Extra {i}", name_ru=f"Доп {i}")
    with CaptureQueriesContext(__import__("django.db").db.connection) as many:
        assert "Доп 9" in client.get("/p/products/").content.decode()
    assert len(many) == len(few)


def test_staff_edit_each_language_and_required_applies_to_the_default_only(shop, client):
    built = shop()
    client.force_login(person("clerk", "clerk"))
    form = client.get("/p/edit_product/new/").content.decode()
    assert 'name="name"' in form and 'name="name_ru"' in form and 'name="description_ru"' in form
    assert ">Name (English)" in form and ">Name (Русский)" in form  # each language's input names it
    assert form.index('name="name"') < form.index('name="name_ru"') < form.index('name="description"')
    made = client.post("/p/edit_product/new/", {"name": "Juice", "name_ru": "Сок", "description": "",
                                                "description_ru": "Свежий", "price": "3"})
    assert made.status_code == 302
    juice = built.model("product").objects.get(name="Juice")
    assert (juice.name_ru, juice.description_ru) == ("Сок", "Свежий")
    missing = client.post("/p/edit_product/new/", {"name": "", "name_ru": "Только русский", "price": "1"})
    assert missing.status_code == 400  # the default language's value is the required one
    assert not built.model("product").objects.filter(name_ru="Только русский").exists()
    edited = client.post(f"/p/edit_product/{juice.pk}/edit/", {"name": "Juice", "name_ru": "", "price": "3"})
    assert edited.status_code == 302
    juice.refresh_from_db()
    assert juice.name_ru == ""  # a translation may be emptied: readers then see the default language


def test_default_language_is_the_language_of_anonymous_users_and_users_without_a_preference(shop, client):
    shop(default="ru")
    login = client.get("/accounts/login/")
    assert login["Content-Language"] == "ru"
    assert 'lang="ru"' in login.content.decode()
    client.force_login(person("ivan", "client"))
    html = client.get("/p/products/").content.decode()
    assert "Товары" in html and "Чай" in html
    client.logout()
    client.force_login(person("emma", "client", language="en"))
    html = client.get("/p/products/").content.decode()
    assert "Products" in html and "Tea" in html and "Чай" not in html
    assert "Кофе" in html  # no English value: the default language's is shown


def test_the_saved_language_is_applied_at_login_into_the_session_and_the_cookie(shop, client):
    shop()
    person("olga", "client", language="ru")
    response = client.post("/accounts/login/", {"username": "olga", "password": "olga-pw-123"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "ru"
    page = client.get("/p/products/")
    assert "Товары" in page.content.decode()
    client.cookies.load({"django_language": "en"})  # another tab switched the cookie: the saved choice wins
    assert "Товары" in client.get("/p/products/").content.decode()


def test_choosing_a_language_saves_it_for_the_next_login(shop, client):
    shop()
    user = person("pavel", "client")
    client.force_login(user)
    client.post("/i18n/setlang/", {"language": "ru", "next": "/p/products/"})
    assert UserPreference.objects.get(user=user).language == "ru"
    assert "Товары" in client.get("/p/products/").content.decode()
    client.logout()
    client.cookies.pop("django_language", None)
    client.force_login(user)
    assert "Товары" in client.get("/p/products/").content.decode()
    refused = client.post("/i18n/setlang/", {"language": "de", "next": "/p/products/"})
    assert refused.status_code == 302 and UserPreference.objects.get(user=user).language == "ru"


def test_the_browser_language_counts_when_nothing_was_chosen(shop, client):
    shop()
    assert client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")["Content-Language"] == "ru"
    assert client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de")["Content-Language"] == "en"


def test_the_admin_edits_and_searches_every_language(shop, client):
    built = shop()
    client.force_login(get_user_model().objects.create_superuser("root", password="root-pw-12345"))
    tea = built.model("product").objects.get(name="Tea")
    change = client.get(f"/admin/cabinet/product/{tea.pk}/change/").content.decode()
    assert 'name="name_ru"' in change and 'value="Чай"' in change
    found = client.get("/admin/cabinet/product/?q=Чай").content.decode()
    assert "Tea" in found and "Coffee" not in found


@pytest.mark.parametrize("solution", ["solutions/resort"], indirect=True)
def test_the_resort_shows_services_and_excursions_in_russian(solution, client):
    import io

    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    assert client.login(username="anna", password="anna-demo")
    client.post("/i18n/setlang/", {"language": "ru", "next": "/"})
    services = client.get("/p/services/").content.decode()
    assert "Массаж горячими камнями" in services and "Hot stone massage" not in services
    assert "Массаж горячими камнями" in client.get("/p/services/?q=massage").content.decode()
    orders = client.get("/p/my_orders/").content.decode()
    assert "Шампанское в номер" in orders  # a ref's title in the reader's language
    excursion = solution.model("excursion").objects.get(name="Sunset boat trip")
    detail = client.get(f"/p/excursions/{excursion.pk}/").content.decode()
    assert "Морская прогулка на закате" in detail and "на закате." in detail
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Hot stone massage" in client.get("/p/services/").content.decode()
