"""Who sees which conversation (one SQL query) and what they may do in it: engine/chat/policy.py."""
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, remove_perm

from engine import writes
from engine.access import NotFound
from engine.chat import policy as policy_module
from engine.chat import service
from engine.chat.errors import NotAllowed, NotVisible
from engine.chat.models import Conversation, Participant

CHAT_YAML = """
entities:
  guest:
    title: name
    fields:
      user: {type: ref, to: user, unique: true}
      name: {type: string, required: true}
      email: email
      vip: boolean
  stay:
    title: room
    fields:
      guest: {type: ref, to: guest, required: true}
      room: {type: string, required: true}
      check_out: date
  claim:
    title: subject
    fields:
      guest: {type: ref, to: guest, required: true}
      stay: {type: ref, to: stay}
      subject: {type: string, required: true}
      status: {type: choice, choices: [open, closed], default: open}
roles:
  guest:
    entities:
      guest: {actions: [view], scope: {user: $user}}
      stay: {actions: [list, view], scope: {guest.user: $user}}
      claim:
        actions: [list, view, create, reopen]
        scope: {guest.user: $user}
        set: {guest: $user.guest}
        fields: {view: [guest, stay, subject, status], edit: [stay, subject]}
  reception:
    staff: true
    entities:
      guest: {actions: [list, view], scope: all, fields: {view: [name, email]}}
      stay: {actions: [list, view], scope: all}
      claim: {actions: [list, view, create, close, reopen], scope: all}
  manager:
    staff: true
    entities:
      guest: {actions: all, scope: all}
      stay: {actions: all, scope: all}
      claim: {actions: all, scope: all}
workflows:
  claim_flow:
    entity: claim
    field: status
    states: {open: {}, closed: {}}
    transitions:
      close: {from: open, to: closed, roles: [reception, manager]}
      reopen: {from: closed, to: open, roles: [guest, reception, manager]}
chats:
  reception:
    type: direct
    label: {en: Chat with reception, ru: Чат с ресепшн}
    clients: [guest]
    staff: [reception, manager]
    edit_window: 15
    attachments: {max_size: 100KB, types: [image, pdf]}
    card:
      entity: guest
      fields: [name, email, vip]
      related:
        - {entity: stay, via: guest, title: {en: Stays, ru: Проживания}, columns: [room, check_out],
           filter: "room != 'R0'", order: [-check_out], limit: 2}
  claims:
    type: ticket
    label: {en: Claims, ru: Претензии}
    entity: claim
    about: stay
    staff: [reception, manager]
    close: close
    reopen: reopen
    closed: [closed]
  lobby:
    type: group
    label: {en: Lobby, ru: Холл}
    members: [guest]
    moderators: [manager]
    join: open
    channels:
      hall: {title: {en: Hall, ru: Холл}}
  club:
    type: group
    label: {en: Club, ru: Клуб}
    members: [guest]
    moderators: [manager]
    join: invite
"""


def make_user(name, *roles, **extra):
    user = get_user_model().objects.create_user(name, password=f"pw-{name}-12345", **extra)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def build_world(publish_yaml):
    """The chat solution with two guests (their profiles and stays), reception, a manager and an outsider."""
    built, _ = publish_yaml(CHAT_YAML)
    ann, bob = make_user("ann", "guest"), make_user("bob", "guest")
    rita, max_ = make_user("rita", "reception"), make_user("max", "manager")
    eve = make_user("eve")  # no role at all
    root = make_user("root", is_superuser=True, is_staff=True)
    guests = {u.username: built.model("guest").objects.create(user=u, name=u.username.title(), email=f"{u}@x.org")
              for u in (ann, bob)}
    stays = {name: built.model("stay").objects.create(guest=g, room=f"R{i}") for i, (name, g) in
             enumerate(guests.items(), 1)}
    world = SimpleNamespace(built=built, ann=ann, bob=bob, rita=rita, max=max_, eve=eve, root=root,
                            guests=guests, stays=stays)
    world.access = lambda user: built.policy.for_user(user)
    return world


@pytest.fixture
def world(publish_yaml):
    return build_world(publish_yaml)


def visible_ids(world, user, chat=None):
    return sorted(world.built.chat.visible(world.access(user), chat).values_list("pk", flat=True))


def test_built_chat_is_the_versions_chat_policy(world):
    assert world.built.chat is world.built.chat
    assert world.built.chat.built is world.built
    assert [c.name for c in world.built.chat.chats_for(world.access(world.ann))] == ["reception", "claims", "lobby",
                                                                                       "club"]
    assert [c.name for c in world.built.chat.chats_for(world.access(world.rita))] == ["reception", "claims"]
    assert [c.name for c in world.built.chat.chats_for(world.access(world.max))] == ["reception", "claims", "lobby",
                                                                                       "club"]
    assert world.built.chat.chats_for(world.access(world.eve)) == []


def test_direct_conversations_show_to_their_client_and_to_staff_only(world):
    a = service.start(world.access(world.ann), "reception", text="Hello")
    b = service.start(world.access(world.bob), "reception", text="Hi")
    assert visible_ids(world, world.ann) == [a.pk]
    assert visible_ids(world, world.bob) == [b.pk]
    assert visible_ids(world, world.rita) == sorted([a.pk, b.pk])
    assert visible_ids(world, world.max, "reception") == sorted([a.pk, b.pk])
    assert visible_ids(world, world.eve) == []
    assert visible_ids(world, world.root) == sorted([a.pk, b.pk])
    with pytest.raises(NotVisible) as caught:
        world.built.chat.get(world.access(world.bob), a.pk)
    assert isinstance(caught.value, NotFound) and caught.value.status_code == 404
    for bad in ("x", None, 0, -1, 2**63, a.pk + 1000):
        with pytest.raises(NotVisible):
            world.built.chat.get(world.access(world.ann), bad)
    assert world.built.chat.get(world.access(world.ann), str(a.pk)) == a
    Conversation.objects.filter(pk=b.pk).update(type="group")  # e.g. left over from an older version
    assert visible_ids(world, world.rita) == [a.pk]


def test_tickets_follow_the_rows_scope(world):
    ann_claim = service.start(world.access(world.ann), "claims", text="Broken lamp",
                              values={"subject": "Lamp", "stay": world.stays["ann"].pk})
    bob_claim = service.start(world.access(world.bob), "claims", values={"subject": "Noise"})
    assert ann_claim.row_id != bob_claim.row_id
    assert ann_claim.client == world.ann  # the row's guest's account
    assert visible_ids(world, world.ann, "claims") == [ann_claim.pk]
    assert visible_ids(world, world.bob, "claims") == [bob_claim.pk]
    assert visible_ids(world, world.rita, "claims") == sorted([ann_claim.pk, bob_claim.pk])
    assert visible_ids(world, world.eve, "claims") == []
    # a guardian grant on bob's claim row makes its ticket visible to ann too (the row scope decides)
    claim = world.built.model("claim").objects.get(pk=bob_claim.row_id)
    assign_perm("view_claim", world.ann, claim)
    assert visible_ids(world, world.ann, "claims") == sorted([ann_claim.pk, bob_claim.pk])


def test_visible_conversations_are_one_query_whatever_their_number(world):
    for user in (world.ann, world.bob):
        service.start(world.access(user), "reception", text="x")
        service.start(world.access(user), "claims", values={"subject": "s"})
    assign_perm("engine.view_conversation", world.eve, Conversation.objects.first())
    for user in (world.ann, world.rita, world.max, world.eve):
        access = world.access(user)
        world.built.chat.visible(access).count()  # warm: roles and granted ids are read once and cached
        with CaptureQueriesContext(connection) as ctx:
            found = list(world.built.chat.visible(access))
        assert len(ctx.captured_queries) == 1, [q["sql"] for q in ctx.captured_queries]
        assert found


def test_open_and_invite_channels(world):
    rows = service.conversations(world.access(world.ann), "lobby")  # declared channels appear on first use
    assert [(c.slug, c.title) for c in rows] == [("hall", "Hall")]
    assert service.conversations(world.access(world.ann), "lobby").count() == 1  # idempotent
    hall = rows[0]
    club = service.start(world.access(world.max), "club", values={"slug": "wine", "title": "Wine club"})
    assert visible_ids(world, world.ann, "club") == []  # invite only
    assert visible_ids(world, world.ann, "lobby") == [hall.pk]
    assert visible_ids(world, world.rita, "lobby") == []  # reception is neither member nor moderator
    service.add_member(world.access(world.max), club, world.ann.pk)
    assert visible_ids(world, world.ann, "club") == [club.pk]
    service.remove_member(world.access(world.max), hall, world.bob.pk)
    assert visible_ids(world, world.bob, "lobby") == []  # removed from an open channel: it stays closed
    assert visible_ids(world, world.ann, "lobby") == [hall.pk]


def test_a_view_conversation_grant_adds_one_participant(world):
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    assert visible_ids(world, world.bob) == []
    assign_perm("engine.view_conversation", world.bob, conv)
    assert visible_ids(world, world.bob) == [conv.pk]
    group = Group.objects.create(name="friends")
    world.eve.groups.add(group)
    assign_perm("engine.view_conversation", group, conv)
    assert visible_ids(world, world.eve) == [conv.pk]
    assert [c.name for c in world.built.chat.chats_for(world.access(world.eve))] == ["reception"]


def test_granted_conversations_are_read_through_the_public_access_method(world):
    """``Access.granted_object_ids`` (public; ``_read_grants`` is its old name) answers what the policy
    shows: the ids granted to the user or their groups, and a revocation is seen at once."""
    first = service.start(world.access(world.ann), "reception", text="Hi")
    second = service.start(world.access(world.bob), "reception", text="Hello")
    permission = world.built.policy.permission_id(Conversation, "view")
    assign_perm("engine.view_conversation", world.eve, first)
    group = Group.objects.create(name="friends")
    world.eve.groups.add(group)
    assign_perm("engine.view_conversation", group, second)
    eve = world.access(world.eve)
    assert eve.granted_object_ids(permission) == eve._read_grants(permission) == (first.pk, second.pk)
    assert visible_ids(world, world.eve) == [first.pk, second.pk]
    remove_perm("engine.view_conversation", world.eve, first)
    assert world.access(world.eve).granted_object_ids(permission) == (second.pk,)
    assert visible_ids(world, world.eve) == [second.pk]
    source = Path(policy_module.__file__).read_text(encoding="utf-8")
    assert "._read_grants(" not in source and ".granted_object_ids(" in source


def test_rights_by_side(world):
    policy = world.built.chat
    conv = service.start(world.access(world.ann), "reception", text="Hi")
    assert policy.side(world.access(world.ann), conv) == "client"
    assert policy.side(world.access(world.rita), conv) == "staff"
    assert policy.rights(world.access(world.ann), conv) == {"read", "post", "edit_own"}
    assert policy.rights(world.access(world.rita), conv) == {
        "read", "post", "edit_own", "moderate", "take", "hand_over", "add_member", "remove_member"}
    conv = service.take(world.access(world.rita), conv)
    assert conv.operator == world.rita
    assert "take" not in policy.rights(world.access(world.rita), conv)
    assert "take" in policy.rights(world.access(world.max), conv)
    assert policy.can_start(world.access(world.ann), "reception")
    assert not policy.can_start(world.access(world.rita), "reception")
    assert policy.can_start(world.access(world.rita), "claims") and policy.can_start(world.access(world.ann), "claims")
    assert policy.can_start(world.access(world.max), "lobby") and not policy.can_start(world.access(world.ann), "lobby")
    assert not policy.can_start(world.access(world.ann), "nope")


def test_ticket_rights_follow_the_workflow(world):
    policy = world.built.chat
    conv = service.start(world.access(world.ann), "claims", values={"subject": "Lamp"})
    assert policy.rights(world.access(world.ann), conv) == {"read", "post", "edit_own"}
    assert policy.rights(world.access(world.rita), conv) >= {"close", "post", "moderate"}
    assert "reopen" not in policy.rights(world.access(world.rita), conv)
    conv = service.close(world.access(world.rita), conv)
    assert policy.rights(world.access(world.ann), conv) == {"read", "reopen"}
    assert policy.rights(world.access(world.rita), conv) >= {"reopen"}
    assert not policy.rights(world.access(world.rita), conv) & {"close", "post"}


def test_group_rights(world):
    policy = world.built.chat
    hall = service.channel(world.access(world.ann), "lobby", "hall")
    assert policy.rights(world.access(world.ann), hall) == {"read", "join"}
    service.join(world.access(world.ann), hall)
    assert policy.rights(world.access(world.ann), policy.get(world.access(world.ann), hall.pk)) == {
        "read", "post", "edit_own", "leave"}
    assert policy.rights(world.access(world.max), hall) == {
        "read", "post", "edit_own", "moderate", "add_member", "remove_member", "close"}
    assert policy.side(world.access(world.max), hall) == "moderator"
    assert policy.side(world.access(world.ann), hall) == "member"


def test_a_removed_member_loses_the_channel_and_the_grant(world):
    club = service.start(world.access(world.max), "club", values={"slug": "wine", "title": "Wine"})
    service.add_member(world.access(world.max), club, world.bob)
    assert world.bob.has_perm("engine.view_conversation", club)
    service.remove_member(world.access(world.max), club, world.bob.pk)
    bob = get_user_model().objects.get(pk=world.bob.pk)  # guardian caches permissions per user object
    assert not bob.has_perm("engine.view_conversation", club)
    assert Participant.objects.get(conversation=club, user=world.bob).removed is True
    with pytest.raises(NotVisible):
        world.built.chat.get(world.access(bob), club.pk)
    with pytest.raises(NotAllowed):
        service.add_member(world.access(world.ann), service.channel(world.access(world.ann), "lobby", "hall"),
                           world.bob)


def test_ticket_row_created_through_the_one_write_path(world):
    conv = service.start(world.access(world.ann), "claims", values={"subject": "Lamp"})
    claim = world.built.model("claim").objects.get(pk=conv.row_id)
    assert (claim.guest, claim.status, claim.subject) == (world.guests["ann"], "open", "Lamp")
    assert list(writes.history(world.access(world.rita), "claim", claim.pk).values_list("action", flat=True)) == [
        "create"]
