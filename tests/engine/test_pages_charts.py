"""Chart cards on dashboards: grouped counts and sums within the reader's scope, drawn as accessible SVG."""
import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

CHART_YAML = """
entities:
  shop:
    title: name
    fields: {name: string}
  sale:
    owner: user
    fields:
      user: {type: ref, to: user}
      shop: {type: ref, to: shop}
      amount: money
      paid: boolean
      status: {type: choice, choices: [new, done, lost], default: new}
      made: datetime
workflows:
  sale_flow:
    entity: sale
    field: status
    states: {new: {color: info}, done: {color: "#12ab34", final: true}, lost: {color: danger, final: true}}
    transitions: {close: {from: new, to: done}, lose: {from: new, to: lost}}
roles:
  seller:
    entities:
      sale: {actions: [list, view], scope: own}
      shop: {actions: [list, view], scope: {name: North}}
pages:
  home:
    kind: dashboard
    cards:
      - {kind: chart, title: By state, entity: sale, group_by: status}
      - {kind: chart, title: Takings, entity: sale, group_by: shop, sum: amount}
      - {kind: chart, title: Per month, entity: sale, group_by: made, period: month, chart: line}
      - {kind: chart, title: Paid, entity: sale, group_by: paid, filter: {status: done}}
"""


@pytest.fixture
def sales(publish_yaml, client):
    built, _plan = publish_yaml(CHART_YAML)
    User = get_user_model()
    me, other = User.objects.create_user("me", password="pw-me-12345"), User.objects.create_user("other")
    me.groups.add(Group.objects.get_or_create(name="seller")[0])
    Shop, Sale = built.model("shop"), built.model("sale")
    north, south = Shop.objects.create(name="North"), Shop.objects.create(name="South")
    now = timezone.now()
    for user, shop, amount, status, days in [(me, north, "10.50", "new", 0), (me, north, "4.50", "done", 0),
                                             (me, south, "7.00", "done", 40), (me, north, "1.00", "lost", 0),
                                             (other, north, "99.00", "new", 0)]:
        Sale.objects.create(user=user, shop=shop, amount=Decimal(amount), status=status, paid=days > 0,
                            made=now - datetime.timedelta(days=days))
    client.force_login(me)
    return built


def figure(html, title):
    part = html[html.index(f"<caption>{title}</caption>"):]
    part = part[:part.index("</table>")]
    return dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', part))


def test_charts_group_count_and_sum_the_readers_rows_only(sales, client):
    html = client.get("/p/home/").content.decode()
    assert figure(html, "By state") == {"New": "1", "Done": "2", "Lost": "1"}  # not the other seller's sale
    # Sums in the solution's currency; the shop out of the reader's scope keeps its title hidden.
    assert figure(html, "Takings") == {"North": "16.00 EUR", "—": "7.00 EUR"}
    per_month = figure(html, "Per month")
    assert sorted(per_month.values()) == (["1", "3"] if len(per_month) == 2 else ["4"])
    assert figure(html, "Paid") == {"Yes": "1", "No": "1"}  # the card's filter applies


def test_charts_are_svg_with_a_title_coloured_states_and_a_line(sales, client):
    html = client.get("/p/home/").content.decode()
    assert re.search(r'<svg viewBox="0 0 320 160" role="img" aria-label="By state"[^>]*>\s*<title>By state</title>', html)
    assert html.count('class="chart-bar badge--info"') == 1 and 'class="chart-bar badge--danger"' in html
    assert 'class="chart-bar badge--c12ab34"' in html
    assert re.search(r'<style nonce="[^"]*">[^<]*\.chart-bar\.badge--c12ab34[^<]*fill:#12ab34', html)
    assert '<polyline class="chart-line"' in html


def test_chart_queries_do_not_grow_with_rows(sales, client):
    Sale = sales.model("sale")
    me = get_user_model().objects.get(username="me")
    client.get("/p/home/")
    counts = []
    for extra in (2, 40):
        Sale.objects.bulk_create([Sale(user=me, amount=1, made=timezone.now()) for _ in range(extra)])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/p/home/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
