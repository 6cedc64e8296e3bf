"""The middleware answers a request again on the new version only when a publish broke it and it
committed nothing; otherwise the error stands."""
from django.db import DatabaseError
from django.http import HttpResponse
from django.test import RequestFactory

from engine.compiler import compile_sources
from engine.middleware import ActiveSolutionMiddleware
from engine.models import SolutionVersion
from engine.registry import build_solution, registry
from tests.conftest import HEADER, dedent

V1 = "entities:\n  note:\n    fields:\n      text: string\n"
V2 = "entities:\n  note:\n    fields:\n      body: {type: string, renamed_from: text}\n"


def old_process(publish_yaml):
    """Publish v1 and v2, then serve v1 as a process that has not noticed v2 yet."""
    publish_yaml(V1)
    publish_yaml(V2)
    spec1 = compile_sources({"solution.yaml": HEADER + dedent(V1)}).raise_for_errors()
    registry.activate(build_solution(spec1, 1))


def run(view, method="get"):
    calls = []

    def get_response(request):
        calls.append(request.solution.number)
        try:
            return view(request, len(calls))
        except DatabaseError as exc:  # as Django's handler does: middleware first, else a 500
            return middleware.process_exception(request, exc) or HttpResponse(status=500)

    middleware = ActiveSolutionMiddleware(get_response)
    factory = RequestFactory()
    request = factory.get("/") if method == "get" else factory.post("/", data=b"{}", content_type="application/json")
    middleware._route(request, registry.active)
    response = middleware(request)
    return response.status_code, calls


def test_a_read_broken_by_a_publish_is_answered_again_on_the_new_version(publish_yaml, monkeypatch):
    old_process(publish_yaml)
    monkeypatch.setattr(registry, "ensure_current", lambda: registry.active)  # the cached number is stale

    def view(request, attempt):
        model = request.solution.model("note")
        return HttpResponse(str(list(model.objects.all())))  # v1 selects 'text', renamed to 'body' by v2

    assert run(view) == (200, [1, 2])
    assert registry.active.number == 2


def test_a_request_that_committed_a_write_is_not_answered_again(publish_yaml, monkeypatch):
    old_process(publish_yaml)
    monkeypatch.setattr(registry, "ensure_current", lambda: registry.active)

    def view(request, attempt):
        SolutionVersion.objects.filter(number=1).update(note="touched")  # committed (autocommit)
        list(request.solution.model("note").objects.all())  # 'text' is gone: ProgrammingError/OperationalError
        return HttpResponse("ok")

    status, calls = run(view, "post")
    assert (status, calls) == (500, [1])
