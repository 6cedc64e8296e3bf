"""List, detail and calendar pages along paths: columns, fields, filters, ``where``, clean URLs, query counts."""
import datetime
import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import compile_yaml


@pytest.fixture
def resort(solution):
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def login(client, username):
    assert client.login(username=username, password=f"{username}-demo")
    return client


def cells(html, label):
    """The texts of the cells headed ``label`` (the data-label of a list's cells), tags stripped."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(rf'<td data-label="{label}">(.*?)</td>', html)]


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


# --- columns along paths ------------------------------------------------------------------------

def test_staff_stays_show_the_guest_along_a_path(resort, client):
    login(client, "reception")
    html = client.get("/p/stays/").content.decode()
    assert sorted(cells(html, "Guest")) == ["Anna Petrova", "Anna Petrova", "Boris Ivanov"]


def test_guest_lists_show_excursion_start_and_service_price(resort, client):
    login(client, "anna")
    bookings = client.get("/p/my_bookings/").content.decode()
    trip = resort.model("excursion").objects.get(name="Sunset boat trip")
    local = timezone.localtime(trip.starts_at)
    from django.utils import formats

    assert cells(bookings, "Starts at") == [formats.date_format(local, "SHORT_DATETIME_FORMAT")]
    orders = client.get("/p/my_orders/").content.decode()
    assert sorted(cells(orders, "Price")) == ["24.00 EUR", "65.00 EUR"]


def test_a_row_along_a_path_out_of_the_readers_scope_shows_blank(resort, client):
    """Guests see available services only: the price of an order's unavailable service is not shown."""
    resort.model("service").objects.filter(name="Breakfast in bed").update(available=False)
    login(client, "anna")
    html = client.get("/p/my_orders/").content.decode()
    assert sorted(cells(html, "Price")) == ["", "65.00 EUR"]
    assert "24.00 EUR" not in html


def test_path_columns_keep_query_counts_constant(resort, client):
    Order, Stay = resort.model("service_order"), resort.model("stay")
    stay = Stay.objects.filter(guest__full_name="Anna Petrova", status="in_house").get()
    service = resort.model("service").objects.first()
    counts = {}
    for username, url in (("anna", "/p/my_orders/"), ("reception", "/p/stays/"), ("anna", "/p/my_bookings/")):
        login(client, username)
        client.get(url)
        first = count_queries(client, url)
        Order.objects.bulk_create([Order(stay=stay, service=service, quantity=2) for _ in range(15)])
        Stay.objects.bulk_create([Stay(guest=stay.guest, check_in=stay.check_in, check_out=stay.check_out)
                                  for _ in range(15)])
        counts[url] = (first, count_queries(client, url))
        client.logout()
    assert all(a == b for a, b in counts.values()), counts


def test_a_column_of_a_ref_to_the_user_is_read_with_the_rows(publish_yaml, client):
    from django.contrib.auth import get_user_model

    built, _ = publish_yaml("""
    entities:
      note:
        fields: {text: string, author: {type: ref, to: user}}
    pages:
      notes: {kind: list, entity: note, columns: [text, author], page_size: 50}
    """)
    root = get_user_model().objects.create_superuser("root", password="x" * 12)
    client.force_login(root)
    Note = built.model("note")
    counts = []
    for n in (2, 30):
        Note.objects.bulk_create([Note(text=f"n{i}", author=get_user_model().objects.create_user(f"u{n}-{i}"))
                                  for i in range(n)])
        client.get("/p/notes/")
        counts.append(count_queries(client, "/p/notes/"))
    assert counts[0] == counts[1], counts


def test_detail_sections_and_related_lists_along_paths(publish_yaml, resort, client):
    login(client, "reception")
    stay = resort.model("stay").objects.filter(guest__full_name="Anna Petrova", status="in_house").get()
    html = client.get(f"/p/stay_detail/{stay.pk}/").content.decode()
    assert "Champagne to the room" in html and "65.00 EUR" in html and "48.00 EUR" in html  # totals


def test_recent_datetimes_are_relative_with_the_absolute_time_in_title(resort, client):
    login(client, "anna")
    html = client.get("/p/my_orders/").content.decode()
    times = re.findall(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', html)
    assert any(text.endswith("ago") and "hour" in text for _, _, text in times), times
    iso, absolute, _ = times[0]
    assert datetime.datetime.fromisoformat(iso) and re.search(r"\d", absolute)


# --- filters, where, clean URLs, empty results ---------------------------------------------------

def test_filters_on_refs_numbers_and_date_ranges(resort, client):
    login(client, "reception")
    points = client.get("/p/points/").content.decode()
    assert '<select name="guest">' in points and ">Anna Petrova</option>" in points
    anna = resort.model("guest").objects.get(full_name="Anna Petrova")
    assert client.get(f"/p/points/?guest={anna.pk}").status_code == 200
    services = client.get("/p/services/?price_min=30&price_max=70").content.decode()
    assert "Champagne to the room" in services and "Airport transfer" in services
    assert "Breakfast in bed" not in services and "Hot stone massage" not in services
    today = timezone.localdate()
    stays = client.get(f"/p/stays/?check_in_from={today - datetime.timedelta(days=3)}").content.decode()
    assert sorted(cells(stays, "Guest")) == ["Anna Petrova", "Boris Ivanov"]
    assert f'value="{today - datetime.timedelta(days=3)}"' in stays


def test_ref_filter_offers_only_rows_in_the_readers_scope(resort, client):
    login(client, "anna")
    html = client.get("/p/my_orders/").content.decode()
    assert 'name="ordered_at_from"' in html and 'type="date"' in html


def test_empty_inputs_are_dropped_from_the_url(resort, client):
    login(client, "reception")
    response = client.get("/p/services/?q=&category=spa&price_min=")
    assert response.status_code == 302 and response.url == "/p/services/?category=spa"
    response = client.get("/p/services/?q=&category=", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Push-Url"] == "/p/services/"


def test_an_empty_result_says_the_filters_hid_the_rows(resort, client):
    login(client, "reception")
    html = client.get("/p/services/?price_min=100000").content.decode()
    assert "No rows match these filters." in html and 'href="/p/services/"' in html
    resort.model("service_order").objects.all().delete()
    resort.model("claim").objects.all().delete()
    resort.model("service").objects.all().delete()
    assert "Nothing here yet" in client.get("/p/services/").content.decode()


def test_sort_and_paging_links_keep_the_filters(resort, client):
    login(client, "reception")
    Entry, guest = resort.model("points_entry"), resort.model("guest").objects.first()
    Entry.objects.bulk_create([Entry(guest=guest, points=i + 1, reason="order") for i in range(30)])
    html = client.get("/p/points/?points_min=1&sort=-points").content.decode()  # (a table: services are cards)
    assert "?points_min=1&amp;sort=-points&amp;page=2" in html
    assert "?points_min=1&amp;sort=points" in html


def test_a_where_condition_fixes_the_rows_of_a_list(publish_yaml, client):
    from django.contrib.auth import get_user_model

    built, _ = publish_yaml("""
    entities:
      visit:
        fields:
          at: {type: date, required: true}
          note: string
    pages:
      history: {kind: list, entity: visit, where: "at < today", columns: [at, note]}
    """)
    Visit = built.model("visit")
    today = timezone.localdate()
    Visit.objects.create(at=today - datetime.timedelta(days=3), note="past visit")
    Visit.objects.create(at=today + datetime.timedelta(days=3), note="coming visit")
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 12))
    html = client.get("/p/history/").content.decode()
    assert "past visit" in html and "coming visit" not in html


def test_calendar_places_rows_by_a_date_along_a_path(publish_yaml, client):
    from django.contrib.auth import get_user_model

    built, _ = publish_yaml("""
    entities:
      trip:
        title: name
        fields: {name: string, starts_at: {type: datetime, required: true}}
      seat:
        fields: {trip: {type: ref, to: trip, required: true}, who: string}
    pages:
      seats: {kind: calendar, entity: seat, date_field: trip.starts_at}
    """)
    trip = built.model("trip").objects.create(name="Boat", starts_at=timezone.now() + datetime.timedelta(days=1))
    built.model("seat").objects.create(trip=trip, who="Rita")
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 12))
    day = timezone.localtime(trip.starts_at).date().isoformat()
    html = client.get(f"/p/seats/?view=day&day={day}").content.decode()
    assert "Rita" in html or "Boat" in html
    other = (timezone.localdate() + datetime.timedelta(days=20)).isoformat()
    assert "Rita" not in client.get(f"/p/seats/?view=day&day={other}").content.decode()


# --- checks ---------------------------------------------------------------------------------------

PATHS = """
entities:
  guest:
    title: name
    owner: user
    fields: {user: {type: ref, to: user}, name: string, secret: string, tags: {type: refs, to: tag}}
  tag:
    fields: {name: string}
  stay:
    fields: {guest: {type: ref, to: guest}, note: text, nights: integer}
roles:
  guest:
    entities:
      guest: {actions: [view], scope: own, fields: {view: [name]}}
      stay: {actions: [list, view], scope: {guest.user: $user}}
"""


def problems(pages):
    return [str(p) for p in compile_yaml(PATHS + pages).problems]


def test_paths_are_checked_hop_by_hop():
    found = problems("""
pages:
  stays:
    kind: list
    entity: stay
    roles: [guest]
    columns: [guest.name, guest.secret, note.x, guest.nope, guest.tags]
""")
    assert [re.search(r"cabinet\.(E\d+)", p).group(1) for p in found] == ["E901", "E900", "E202", "E902"], found
    assert "role 'guest' may not see 'guest.secret'" in found[0]
    assert "'stay.note' is a text field" in found[1]


def test_filters_where_exports_and_record_pages_are_checked():
    found = problems("""
pages:
  a: {kind: list, entity: stay, filters: [note, guest.user], where: "nights >"}
  b: {kind: detail, entity: stay, export: [csv], where: "nights > 1"}
  c: {kind: record, entity: tag}
  d: {kind: record, entity: guest}
""")
    codes = [re.search(r"cabinet\.(E\d+)", p).group(1) for p in found]
    assert codes == ["E903", "E903", "E300", "E904", "E904", "E905"], found


# --- exports ----------------------------------------------------------------------------------------

def csv_rows(response):
    import csv

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))


def test_export_links_carry_the_filters(resort, client):
    login(client, "reception")
    html = client.get("/p/stays/?status=in_house").content.decode()
    assert 'href="/p/stays/export/csv/?status=in_house"' in html
    assert 'href="/p/stays/export/xlsx/?status=in_house"' in html
    assert "/export/" not in client.get("/p/services/").content.decode()  # no export declared


def test_csv_export_has_exactly_the_readers_rows_and_columns(resort, client):
    login(client, "anna")
    rows = csv_rows(client.get("/p/stays/export/csv/"))
    assert rows[0] == ["Check-in", "Check-out", "Room", "Guest", "Status"]
    assert len(rows) == 3 and {r[3] for r in rows[1:]} == {"Anna Petrova"}  # not Boris's stay
    client.logout()
    login(client, "reception")
    rows = csv_rows(client.get("/p/stays/export/csv/?status=in_house&sort=guest.full_name"))
    assert [r[3] for r in rows[1:]] == ["Anna Petrova", "Boris Ivanov"]
    assert client.get("/p/stays/export/pdf/").status_code == 404
    assert client.get("/p/services/export/csv/").status_code == 404


def test_xlsx_export_and_formula_cells_are_inert(resort, client):
    from openpyxl import load_workbook

    resort.model("guest").objects.filter(full_name="Boris Ivanov").update(full_name="=HYPERLINK(1)")
    login(client, "reception")
    response = client.get("/p/stays/export/xlsx/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    values = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert values[0] == ["Check-in", "Check-out", "Room", "Guest", "Status"] and len(values) == 4
    assert "'=HYPERLINK(1)" in [r[3] for r in values]


def test_export_queries_do_not_grow_with_rows(resort, client):
    Stay = resort.model("stay")
    stay = Stay.objects.filter(guest__full_name="Anna Petrova").first()
    counts = []
    login(client, "anna")
    client.get("/p/stays/export/csv/")
    for extra in (0, 1200):  # more than two chunks of the cursor
        Stay.objects.bulk_create([Stay(guest=stay.guest, check_in=stay.check_in, check_out=stay.check_out)
                                  for _ in range(extra)])
        with CaptureQueriesContext(connection) as ctx:
            rows = csv_rows(client.get("/p/stays/export/csv/"))
        counts.append(len(ctx.captured_queries))
    assert len(rows) == 1 + 2 + 1200 and counts[0] == counts[1], counts


def test_lists_speak_russian(resort, client):
    login(client, "anna")
    client.post("/i18n/setlang/", {"language": "ru", "next": "/p/home/"})
    html = client.get("/p/my_orders/").content.decode()
    assert "назад</time>" in html and "Цена" in html and "65,00" in html
    empty = client.get("/p/my_orders/?status=cancelled").content.decode()
    assert "Под эти фильтры ничего не подходит." in empty and "Сбросить фильтры" in empty


# --- record pages -------------------------------------------------------------------------------------

def test_record_page_shows_and_edits_the_users_own_row_in_place(resort, client):
    login(client, "anna")
    html = client.get("/p/my_details/").content.decode()
    assert "Anna Petrova" in html and "Boris Ivanov" not in html and "120" in html
    assert 'href="?edit=1"' in html and "<table" not in html  # a record, not a one-row list
    form = client.get("/p/my_details/?edit=1").content.decode()
    assert 'name="full_name"' in form and 'name="loyalty_points"' not in form  # not editable by guests
    response = client.post("/p/my_details/", {"full_name": "Anna P.", "email": "anna@example.com",
                                              "phone": "+7 900 111-22-33", "language": "ru"})
    assert response.status_code == 302 and response.url == "/p/my_details/"
    assert resort.model("guest").objects.get(user__username="anna").full_name == "Anna P."
    bad = client.post("/p/my_details/", {"full_name": "", "language": "xx"})
    assert bad.status_code == 400 and 'name="full_name"' in bad.content.decode()
    assert client.post("/p/my_orders/", {}).status_code == 405


def test_a_user_without_a_row_gets_a_message(resort, client):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("newbie", password="newbie-demo")
    user.groups.add(Group.objects.get(name="guest"))
    login(client, "newbie")
    html = client.get("/p/my_details/").content.decode()
    assert "Your account has no Guest yet." in html
    assert client.post("/p/my_details/", {"full_name": "x"}).status_code == 405


def test_resort_staff_calendar_of_bookings_by_excursion_start(resort, client):
    login(client, "reception")
    trip = resort.model("excursion").objects.get(name="Sunset boat trip")
    day = timezone.localtime(trip.starts_at).date().isoformat()
    html = client.get(f"/p/excursion_bookings/?view=day&day={day}").content.decode()
    assert "Anna Petrova" in html and "Boris Ivanov" not in html  # Boris booked the other trip
