"""Located problems of the work pages' keys: icons, row actions, queues, card lists and charts."""
from tests.conftest import compile_yaml

BASE = """
entities:
  customer:
    title: name
    fields: {name: string, photo: image}
  product:
    title: name
    fields:
      name: string
      price: money
      photo: image
      kind: {type: choice, choices: [a, b]}
      made: date
  purchase:
    fields:
      customer: {type: ref, to: customer}
      product: {type: ref, to: product}
      other: {type: ref, to: product}
      qty: integer
      status: {type: choice, choices: [new, done]}
workflows:
  flow:
    entity: purchase
    field: status
    states: {new: {color: info}, done: {final: true, color: "#12ab34"}}
    transitions:
      finish: {from: new, to: done}
      note: {from: new, to: new, required: [qty]}
roles:
  staff:
    entities:
      purchase: {actions: all, scope: all}
      product: {actions: all, scope: all}
      customer: {actions: all, scope: all}
"""


def problems(pages):
    return [str(p) for p in compile_yaml(BASE + "pages:\n" + pages).problems]


def test_a_valid_work_setup_has_no_problems():
    assert problems("""
  products:
    kind: list
    entity: product
    icon: shopping-bag
    display: cards
    card: {title: name, price: price, image: photo, badge: kind, action: new_order}
    actions:
      - {page: new_order, prefill: {product: id}, icon: shopping-cart}
  new_order: {kind: form, entity: purchase, fields: [customer, product, qty]}
  orders:
    kind: list
    entity: purchase
    states: true
    transitions: [finish]
    bulk: [finish]
    actions:
      - {page: customer_detail}
      - {page: product_detail, row: product}
      - {page: new_order, prefill: {customer: customer, product: product.id}}
      - {transition: finish, icon: check}
  customer_detail: {kind: detail, entity: customer}
  product_detail: {kind: detail, entity: product}
  desk:
    kind: dashboard
    cards:
      - {kind: chart, entity: purchase, group_by: status, icon: chart-column}
      - {kind: chart, entity: product, group_by: made, period: week, sum: price, chart: line}
""") == []


def test_an_unknown_icon_is_located_with_the_closest_name():
    assert problems("  home: {kind: dashboard, icon: shoping-cart}\n") == [
        "solution.yaml:38:33: cabinet.E920 'pages.home.icon' is 'shoping-cart', which is not an icon of the icon "
        "set; did you mean 'shopping-cart'? (hint: use a Lucide icon name (https://lucide.dev/icons), such as "
        "'house', 'calendar' or 'shopping-cart')"]


def test_action_problems_are_located():
    found = problems("""
  orders:
    kind: list
    entity: purchase
    actions:
      - {page: new_order, prefill: {qty: id, nope: id}}
      - {page: product_detail}
      - {page: desk}
      - {transition: finsh}
      - {transition: finish, prefill: {qty: id}}
      - {page: new_order, prefill: {customer: customer.nam}}
  new_order: {kind: form, entity: purchase, fields: [customer, product]}
  product_detail: {kind: detail, entity: product}
  desk: {kind: dashboard, actions: [{page: orders}]}
""")
    assert [line.split(" ", 2)[1] for line in found] == [
        "cabinet.E923", "cabinet.E923", "cabinet.E924", "cabinet.E922", "cabinet.E925", "cabinet.E922",
        "cabinet.E207", "cabinet.E921"]
    assert found[0].startswith("solution.yaml:43:37: cabinet.E923 'pages.orders.actions[0].prefill.qty': "
                               "'new_order' does not take 'qty'")
    assert "Several refs lead there" in found[2] and "(one of product, other)" in found[2]
    assert "did you mean 'finish'?" in found[4]
    assert found[-1].startswith("solution.yaml:51:27: cabinet.E921 'pages.desk.actions': 'actions' is for list and "
                                "detail pages, not a dashboard page")


def test_queue_card_and_chart_problems_are_located():
    found = problems("""
  products:
    kind: list
    entity: product
    states: true
    bulk: [finish]
    card: {title: name}
  orders:
    kind: list
    entity: purchase
    display: cards
    transitions: [finish, nope]
  shop:
    kind: list
    entity: product
    display: cards
    card: {title: nam, price: name, image: name, action: buy}
  queue: {kind: list, entity: purchase, bulk: [note]}
  desk:
    kind: dashboard
    states: true
    cards:
      - {kind: chart, entity: purchase}
      - {kind: chart, entity: product, group_by: made}
      - {kind: chart, entity: product, group_by: name, period: day}
      - {kind: chart, entity: product, group_by: price}
      - {kind: chart, entity: purchase, group_by: status, sum: status}
      - {kind: counter, entity: purchase, group_by: status, chart: line}
""")
    codes = [line.split(" ", 2)[1] for line in found]
    assert codes == [
        "cabinet.E926", "cabinet.E925", "cabinet.E927", "cabinet.E927", "cabinet.E925", "cabinet.E202",
        "cabinet.E216", "cabinet.E216", "cabinet.E928", "cabinet.E931", "cabinet.E921", "cabinet.E929", "cabinet.E929",
        "cabinet.E929", "cabinet.E929", "cabinet.E929", "cabinet.E930", "cabinet.E930"], found
    assert found[-1].startswith("solution.yaml:65:61: cabinet.E930 'pages.desk.cards[5].chart' is for chart cards")
