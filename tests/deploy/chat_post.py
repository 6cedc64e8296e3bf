"""A view that posts a chat message through ``engine.chat.service`` (mounted with ``CABINET_EXTRA_URLCONF``
by the process tests and the chat benchmark): the same one write path every surface uses."""
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from engine.access import access_for
from engine.chat import service


@csrf_exempt  # called by the tests' HTTP client with a session cookie; no form to carry a token
@require_POST
def post(request):
    built = request.solution
    access = access_for(request, built)
    conversation = built.chat.get(access, int(request.POST["conversation"]))
    message = service.post(access, conversation, request.POST["text"])
    return JsonResponse({"id": message.pk, "conversation": conversation.pk})


urlpatterns = [path("chat-test/post/", post)]
