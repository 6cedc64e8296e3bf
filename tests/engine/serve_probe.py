"""A serving process of its own for the multi-process tests: ``python -m tests.engine.serve_probe``.

It runs the project's WSGI application in a threaded server on a free loopback port, with its own
app registry, cache and connections, makes a 'probe' user holding the role given in argv, and prints
one JSON line: {"port": ..., "token": ..., "user": ...}.
"""
import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the test counts statuses itself
        pass


def main(role):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engine.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.wsgi import get_wsgi_application
    from knox.models import AuthToken

    user, _ = get_user_model().objects.get_or_create(username="probe")
    user.groups.set([Group.objects.get_or_create(name=role)[0]])
    _, token = AuthToken.objects.create(user)
    server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=Server, handler_class=QuietHandler)
    print(json.dumps({"port": server.server_port, "token": token, "user": user.pk}), flush=True)  # noqa: T201
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
