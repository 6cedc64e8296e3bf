"""Form pages: submit labels, inputs with the YAML's limits, ref choices as the reader may pick them,
prefill from the URL, one write per form sent, and the checks of the form page keys."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.conftest import compile_yaml


@pytest.fixture
def resort(solution):
    import io

    from django.core.management import call_command

    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def login(client, username):
    assert client.login(username=username, password=f"{username}-demo")
    return client


def select(html, name):
    """The options (value, text) of the select ``name``."""
    start = html.index(f'name="{name}"')
    block = html[start:html.index("</select>", start)]
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', block)


def token(html):
    return re.search(r'name="_form_token" value="([^"]+)"', html).group(1)


def test_order_form_says_order_offers_the_current_stay_fixed_and_carries_the_limits(resort, client):
    login(client, "anna")
    html = client.get("/p/order_service/new/").content.decode()
    stay = resort.model("stay").objects.get(guest__user__username="anna", status="in_house")
    assert re.search(r'<button type="submit"[^>]*>Order</button>', html)
    # one stay can still be ordered for: shown as text, posted as a hidden value; last year's is not offered
    assert f'<input type="hidden" name="stay" value="{stay.pk}"' in html
    assert 'class="fixed-value"' in html and "Anna Petrova" in html and 'name="stay" id' not in html
    services = dict(select(html, "service"))
    assert services[""] == "Choose…"
    assert "Champagne to the room · 65.00 EUR" in services.values()
    quantity = re.search(r'<input type="number" name="quantity"[^>]*>', html).group()
    assert 'min="1"' in quantity and 'max="99"' in quantity and "required" in quantity
    assert "9223372036854775807" not in html and "-9223372036854775808" not in html
    note = re.search(r'<textarea name="note"[^>]*>', html).group()
    assert 'maxlength="1000"' in note
    client.cookies["django_language"] = "ru"
    assert "Заказать</button>" in client.get("/p/order_service/new/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()


def test_prefill_takes_only_values_the_form_would_accept(resort, client):
    login(client, "anna")
    Service = resort.model("service")
    massage = Service.objects.get(name="Hot stone massage")
    hidden = Service.objects.create(name="Staff only", price=1, available=False)  # out of the guest's scope
    html = client.get(f"/p/order_service/new/?service={massage.pk}&quantity=3&note=Late").content.decode()
    assert re.search(rf'<option value="{massage.pk}" selected>', html)
    assert re.search(r'name="quantity" value="3"', html) and "Late</textarea>" in html
    for query in (f"service={hidden.pk}", "service=999999", "service=abc", "quantity=500", "quantity=0",
                  "quantity=99999999999999999999999", "status=cancelled", "paid=1", "nope=1", "service=%00"):
        response = client.get(f"/p/order_service/new/?{query}")
        page = response.content.decode()
        assert response.status_code == 200, query
        options = page.split('name="service"')[1].split("</select>")[0]
        assert re.findall(r'value="(\d*)" selected>', options) == [""], query
        assert 'name="quantity" value="1"' in page, query  # the default, not the refused value
        assert 'name="status"' not in page and 'name="paid"' not in page


def test_a_form_sent_twice_writes_one_row(resort, client):
    login(client, "anna")
    Order = resort.model("service_order")
    service = resort.model("service").objects.get(name="Hot stone massage")
    stay = resort.model("stay").objects.get(guest__user__username="anna", status="in_house")
    sent = token(client.get("/p/order_service/new/").content.decode())
    data = {"stay": stay.pk, "service": service.pk, "quantity": 1, "_form_token": sent}
    before = Order.objects.count()
    first = client.post("/p/order_service/new/", data)
    second = client.post("/p/order_service/new/", data, follow=True)
    assert first.status_code == 302 and Order.objects.count() == before + 1
    row = Order.objects.latest("id")
    assert second.redirect_chain[-1][0] == first.url and str(row.pk) in first.url
    assert "This form was already sent; it was saved once." in second.content.decode()
    # another form (a new token) is another order
    again = token(client.get("/p/order_service/new/").content.decode())
    assert client.post("/p/order_service/new/", {**data, "_form_token": again}).status_code == 302
    assert Order.objects.count() == before + 2


def test_a_refused_form_shows_why_and_can_be_sent_again(resort, client):
    login(client, "anna")
    Order = resort.model("service_order")
    service = resort.model("service").objects.get(name="Hot stone massage")
    stay = resort.model("stay").objects.get(guest__user__username="anna", status="in_house")
    sent = token(client.get("/p/order_service/new/").content.decode())
    data = {"stay": stay.pk, "service": service.pk, "quantity": 0, "_form_token": sent}
    bad = client.post("/p/order_service/new/", data)
    html = bad.content.decode()
    assert bad.status_code == 400 and 'role="alert"' in html
    assert "This was not saved. Please correct the marked fields." in html
    assert "Ensure this value is greater than or equal to 1." in html
    good = client.post("/p/order_service/new/", {**data, "quantity": 2}, follow=True)
    assert Order.objects.filter(quantity=2, service=service).count() == 1
    assert "Saved." in good.content.decode()


def test_new_guest_form_offers_only_guest_accounts_without_a_guest_record(resort, client):
    User = get_user_model()
    carol = User.objects.create_user("carol", password="x-carol-123", first_name="Carol", last_name="King")
    carol.groups.add(Group.objects.get_or_create(name="guest")[0])  # a guest's account without a guest record
    User.objects.create_user("erin", password="x-erin-12345")  # an account of no role: not this form's to pick
    User.objects.create_user("dan", password="x-dan-12345").groups.add(Group.objects.get_or_create(name="reception")[0])
    login(client, "reception")
    html = client.get("/p/guests/new/").content.decode()  # the list page's own form
    accounts = dict(select(html, "user"))
    names = set(accounts.values()) - {"Choose…"}
    assert names == {"Carol King (carol)"}, names
    assert carol.pk in {int(v) for v in accounts if v}


def test_user_ref_choices_on_the_api_follow_the_same_rule(resort):
    User = get_user_model()
    reception = User.objects.get(username="reception")
    access = resort.policy.for_user(reception)
    offered = set(access.ref_choices("guest", "user").values_list("username", flat=True))
    assert "AnonymousUser" not in offered and "reception" not in offered and "manager" not in offered
    assert "anna" not in offered  # already linked to a guest record
    anna_guest = resort.model("guest").objects.get(user__username="anna")
    kept = set(access.ref_choices("guest", "user", access.current_choices(anna_guest, "user"))
               .values_list("username", flat=True))
    assert "anna" in kept  # the row's own account stays a choice, so an unchanged guest saves


FORM = """
entities:
  purchase:
    fields:
      title: {type: string, required: true}
      status: {type: choice, choices: [new, done], default: new}
  line:
    fields:
      purchase: {type: ref, to: purchase, required: true}
      product: {type: string, required: true}
      total: {type: integer, computed: "1 + 1"}
      other: {type: ref, to: purchase}
workflows:
  flow:
    entity: purchase
    field: status
    initial: new
    states: {new: {}, done: {final: true}}
    transitions: {finish: {from: new, to: done}}
roles:
  clerk:
    entities:
      purchase: {actions: all, scope: all}
      line: {actions: all, scope: all}
pages:
"""


def codes(pages):
    return sorted((p.code, str(p)) for p in compile_yaml(FORM + pages).problems)


def test_form_page_keys_are_checked_with_located_errors():
    assert codes("""
  new_order:
    kind: form
    entity: purchase
    submit: {en: Send}
    lines: [{entity: line, via: purchase, fields: [product], min: 1, max: 5}]
""") == []
    found = codes("""
  purchases:
    kind: list
    entity: purchase
    submit: Send
  new_order:
    kind: form
    entity: purchase
    lines:
      - {entity: line, via: other, fields: [product, other, total], min: 3, max: 2}
      - {entity: line, via: product}
      - {entity: line, via: other}
      - {entity: nope, via: purchase}
""")
    got = [f"cabinet.{code}" for code, _ in found]
    assert got.count("cabinet.E960") == 1 and got.count("cabinet.E962") == 2 and got.count("cabinet.E963") == 1
    assert got.count("cabinet.E961") == 1 and got.count("cabinet.E964") == 1 and "cabinet.E201" in got
    text = "\n".join(message for _, message in found)
    assert "'pages.purchases.submit' is only for form pages" in text
    assert "'pages.new_order.lines[1].via': 'line.product' is not a ref to 'purchase'" in text
    assert "'other' cannot be typed in a child row: it is 'via'" in text
    assert "'total' cannot be typed in a child row: it is computed" in text
    assert re.search(r"solution\.yaml:\d+:\d+: cabinet\.E963", text)


def test_the_form_reads_its_choices_in_constant_queries(resort, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, "anna")
    Service = resort.model("service")

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/p/order_service/new/?service=1").status_code == 200
        return len(queries)

    count()  # caches warm up (groups, permissions)
    few = count()
    Service.objects.bulk_create([Service(name=f"Extra {i}", price=i, category="spa") for i in range(40)])
    many = count()
    assert many <= few, (few, many)  # not one more query for 40 more choices
    html = client.get("/p/order_service/new/").content.decode()
    assert "Extra 39 · 39.00 EUR" in html
