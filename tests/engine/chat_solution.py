"""A small solution with the three kinds of chat, their pages and people, for the chat page tests."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

CHAT_YAML = """
entities:
  guest:
    title: full_name
    owner: user
    fields:
      user: {type: ref, to: user, unique: true, on_delete: cascade}
      full_name: {type: string, max_length: 120, required: true}
      phone: {type: phone}
  stay:
    fields:
      guest: {type: ref, to: guest, required: true, on_delete: cascade}
      room: {type: string, max_length: 10, required: true}
  claim:
    title: subject
    owner: author
    fields:
      author: {type: ref, to: user, on_delete: cascade}
      subject: {type: string, max_length: 120, required: true}
      stay: {type: ref, to: stay}
      status:
        type: choice
        default: open
        choices: [{value: open}, {value: closed}]
roles:
  guest:
    entities:
      guest: {actions: [list, view], scope: own}
      stay: {actions: [list, view], scope: {guest.user: $user}}
      claim:
        actions: [list, view, create]
        scope: own
        fields: {edit: [subject, stay]}
        set: {author: $user}
  reception:
    staff: true
    entities:
      guest: {actions: [list, view], scope: all}
      stay: {actions: [list, view], scope: all}
      claim: {actions: [list, view, close, reopen], scope: all}
  cleaner:
    entities:
      stay: {actions: [list, view], scope: all}
workflows:
  claim_flow:
    entity: claim
    field: status
    initial: open
    states: {open: {}, closed: {}}
    transitions:
      close: {from: open, to: closed, roles: [reception]}
      reopen: {from: closed, to: open, roles: [reception]}
chats:
  reception:
    type: direct
    label: {en: Chat with reception}
    clients: [guest]
    staff: [reception]
    attachments: {max_size: 1MB, types: [image, pdf, text]}
    card:
      entity: guest
      fields: [full_name, phone]
      related:
        - {entity: stay, via: guest, title: {en: Stays}, columns: [room]}
  claims:
    type: ticket
    label: {en: Claims}
    entity: claim
    about: stay
    staff: [reception]
    close: close
    reopen: reopen
    closed: [closed]
  lounge:
    type: group
    label: {en: Discussions}
    members: [guest]
    moderators: [reception]
    channels:
      lobby: {title: {en: Lobby}, description: {en: Say hello}}
pages:
  chat: {kind: chat, chat: reception, roles: [guest], title: {en: Reception}}
  claims: {kind: chat, chat: claims, roles: [guest], title: {en: My claims}}
  lounge: {kind: chat, chat: lounge, roles: [guest, reception], title: {en: Discussions}}
  inbox: {kind: inbox, chats: [reception, claims], roles: [reception], title: {en: Inbox}}
  guests: {kind: list, entity: guest, roles: [reception]}
  stays: {kind: list, entity: stay, roles: [cleaner]}
"""


def person(username, role, built=None, full_name=None):
    """A user with ``role`` (and, for a guest, their profile row)."""
    user = get_user_model().objects.create_user(username, password=f"{username}-pw-123",
                                                first_name=full_name or username.title())
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    if built is not None and role == "guest":
        built.model("guest").objects.create(user=user, full_name=full_name or username.title(), phone="+100")
    return user
