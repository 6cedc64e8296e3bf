"""The `chats:` section in `cabinet check`: every key takes effect for the chat's type or is a located error
(engine/chat/checks.py, E380-E388; unknown names are the shared E201/E202/E203/E205)."""
from tests.conftest import compile_yaml
from tests.engine.test_chat_policy import CHAT_YAML

BASE = CHAT_YAML[: CHAT_YAML.index("chats:")]


def problems(chats_yaml, base=BASE):
    return [str(p) for p in compile_yaml(base + "chats:\n" + chats_yaml).problems]


def test_the_example_chats_are_valid():
    assert compile_yaml(CHAT_YAML).problems == []


def test_keys_of_another_type_are_refused_and_needed_keys_asked_for():
    assert problems(
        "  reception:\n"
        "    type: direct\n"
        "    clients: [guest]\n"
        "    staff: [reception]\n"
        "    channels: {hall: {}}\n"
        "    entity: claim\n"
        "  claims: {type: ticket, entity: claim, staff: [reception], members: [guest], join: open}\n"
        "  lobby:\n"
        "    type: group\n"
        "    card: {entity: guest}\n"
        "  empty:\n"
        "    type: ticket\n"
    ) == [
        "solution.yaml:60:5: cabinet.E380 'chats.reception.channels' does not apply to a direct chat (hint: keys of "
        "a direct chat: label, edit_window, attachments, clients, staff, card)",
        "solution.yaml:61:5: cabinet.E380 'chats.reception.entity' does not apply to a direct chat (hint: keys of a "
        "direct chat: label, edit_window, attachments, clients, staff, card)",
        "solution.yaml:62:61: cabinet.E380 'chats.claims.members' does not apply to a ticket chat (hint: keys of a "
        "ticket chat: label, edit_window, attachments, entity, about, staff, close, reopen, closed, card)",
        "solution.yaml:62:79: cabinet.E380 'chats.claims.join' does not apply to a ticket chat (hint: keys of a "
        "ticket chat: label, edit_window, attachments, entity, about, staff, close, reopen, closed, card)",
        "solution.yaml:63:3: cabinet.E381 group chat 'lobby' needs 'members or moderators' (hint: list the roles "
        "that see the channels ('members') or moderate them ('moderators'))",
        "solution.yaml:65:5: cabinet.E380 'chats.lobby.card' does not apply to a group chat (hint: keys of a group "
        "chat: label, edit_window, attachments, members, moderators, join, channels)",
        "solution.yaml:66:3: cabinet.E381 ticket chat 'empty' needs 'entity' (hint: name the entity whose rows are "
        "the tickets ('entity') and the roles who answer ('staff'))",
        "solution.yaml:66:3: cabinet.E381 ticket chat 'empty' needs 'staff' (hint: name the entity whose rows are "
        "the tickets ('entity') and the roles who answer ('staff'))",
    ]


def test_roles_and_labels():
    assert problems(
        "  reception:\n"
        "    type: direct\n"
        "    label: {en: Chat, de: Chat}\n"
        "    clients: [guest, reception]\n"
        "    staff: [reception, managr]\n"
        "  lobby:\n"
        "    type: group\n"
        "    members: [guests]\n"
        "    channels: {hall: {title: {fr: Salle}}}\n"
    ) == [
        "solution.yaml:58:12: cabinet.W002 'chats.reception.label' has no text in 'ru' (hint: the default "
        "language's text is shown instead)",
        "solution.yaml:58:23: cabinet.E208 'chats.reception.label' has a text in 'de', which is not among the "
        "solution's languages (en, ru) (hint: add the language to 'solution.languages' or remove the text)",
        "solution.yaml:60:13: cabinet.E388 role 'reception' is both a client and staff of chat 'reception' (hint: "
        "a person answers or asks in a direct chat: list the role under one key)",
        "solution.yaml:60:24: cabinet.E203 'chats.reception.staff[1]' refers to unknown role 'managr'; did you mean "
        "'manager'? (hint: known roles: guest, manager, reception)",
        "solution.yaml:63:15: cabinet.E203 'chats.lobby.members[0]' refers to unknown role 'guests'; did you mean "
        "'guest'? (hint: known roles: guest, manager, reception)",
        "solution.yaml:64:30: cabinet.W002 'chats.lobby.channels.hall.title' has no text in 'en' (hint: the default "
        "language's text is shown instead)",
        "solution.yaml:64:30: cabinet.W002 'chats.lobby.channels.hall.title' has no text in 'ru' (hint: the default "
        "language's text is shown instead)",
        "solution.yaml:64:31: cabinet.E208 'chats.lobby.channels.hall.title' has a text in 'fr', which is not among "
        "the solution's languages (en, ru) (hint: add the language to 'solution.languages' or remove the text)",
    ]


def test_tickets_entity_about_transitions_and_states():
    assert [p.split(" (hint")[0] for p in problems(
        "  a: {type: ticket, entity: clam, staff: [reception]}\n"
        "  b: {type: ticket, entity: claim, about: subject, staff: [reception], close: clos, reopen: reopen}\n"
        "  c: {type: ticket, entity: claim, about: stay, staff: [reception], close: reopen, reopen: close,"
        " closed: [closed, gone]}\n"
        "  d: {type: ticket, entity: stay, staff: [reception], closed: [over]}\n"
    )] == [
        "solution.yaml:56:29: cabinet.E201 'chats.a.entity' refers to unknown entity 'clam'; did you mean 'claim'?",
        "solution.yaml:57:43: cabinet.E382 'chats.b.about' is the string field 'claim.subject', not a reference to "
        "another entity",
        "solution.yaml:57:79: cabinet.E383 'chats.b.close' is 'clos', which is not a transition of a workflow of "
        "'claim'; did you mean 'close'?",
        "solution.yaml:58:76: cabinet.E384 'reopen' leads to 'open', which is not among the closed states "
        "(closed, gone)",
        "solution.yaml:58:92: cabinet.E384 'close' leads to 'closed', a closed state, so it reopens nothing",
        "solution.yaml:58:116: cabinet.E205 'chats.c.closed[1]' refers to unknown state 'gone'",
        "solution.yaml:59:55: cabinet.E383 'chats.d.closed' names states, but 'stay' has no workflow",
    ]


def test_ticket_staff_must_be_able_to_see_tickets():
    base = BASE.replace("      claim: {actions: [list, view, create, close, reopen], scope: all}\n", "")
    base = base.replace("roles: [reception, manager]}", "roles: [manager]}").replace(
        "roles: [guest, reception, manager]}", "roles: [guest, manager]}")
    assert problems("  claims: {type: ticket, entity: claim, staff: [reception, manager]}\n", base) == [
        "solution.yaml:55:49: cabinet.E387 role 'reception' answers chat 'claims' but has no grant on 'claim', so "
        "it could never see a ticket (hint: give 'reception' a grant on 'claim' (roles.reception.entities.claim))",
    ]


def test_client_card():
    assert [p.split(" (hint")[0] for p in problems(
        "  reception:\n"
        "    type: direct\n"
        "    clients: [guest]\n"
        "    staff: [reception]\n"
        "    card:\n"
        "      entity: stay\n"
        "      fields: [room, nme]\n"
        "  desk:\n"
        "    type: direct\n"
        "    clients: [guest]\n"
        "    staff: [reception]\n"
        "    card:\n"
        "      entity: guest\n"
        "      related:\n"
        "        - {entity: claim, via: stay.room, columns: [subjct], order: [-status, -x], filter: 'subject == 1'}\n"
        "        - {entity: claim, via: stay, filter: \"statu == 'open'\"}\n"
        "        - {entity: claim, via: stay.nope}\n"
        "        - {entity: claims, via: guest}\n"
        "        - {entity: claim, via: guest, filter: \"status == 'open' and stay.check_out >= today\"}\n"
    )] == [
        "solution.yaml:61:15: cabinet.E385 card entity 'stay' is not a profile entity: it has no unique reference "
        "to the user, so a client's row cannot be found",
        "solution.yaml:62:22: cabinet.E202 'chats.reception.card.fields[1]' refers to unknown field 'nme'",
        "solution.yaml:70:32: cabinet.E386 'chats.desk.card.related[0].via' ('claim.stay.room') does not lead to "
        "'guest'",
        "solution.yaml:70:53: cabinet.E202 'chats.desk.card.related[0].columns[0]' refers to unknown field 'subjct'; "
        "did you mean 'subject'?",
        "solution.yaml:70:79: cabinet.E202 'chats.desk.card.related[0].order[1]' refers to unknown field 'x'",
        "solution.yaml:70:93: cabinet.E304 'chats.desk.card.related[0].filter': cannot compare text with integer",
        "solution.yaml:71:32: cabinet.E386 'chats.desk.card.related[1].via' ('claim.stay') does not lead to 'guest'",
        "solution.yaml:71:47: cabinet.E301 'chats.desk.card.related[1].filter': unknown name 'statu': 'claim' has "
        "no field 'statu'; did you mean 'status'?",
        "solution.yaml:72:27: cabinet.E207 'stay.nope' at 'chats.desk.card.related[2]': entity 'stay' has no field "
        "'nope'",
        "solution.yaml:73:20: cabinet.E201 'chats.desk.card.related[3].entity' refers to unknown entity 'claims'; "
        "did you mean 'claim'?",
    ]
