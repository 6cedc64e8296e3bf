"""The scoped download of chat attachments: ``GET /chat/files/<id>/``.

A file is served only to whoever sees its conversation (404 for everyone else, exactly as for a file
that does not exist), never from a public media URL. It is served with the type found in its bytes,
``nosniff`` and a sandboxing Content-Security-Policy, so even a file a browser might render cannot run
script in the cabinet's origin; images show inline, everything else downloads.
"""
from __future__ import annotations

from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from ..access import access_for
from .models import Attachment


@require_safe
def view(request, pk, built):
    access = access_for(request, built)
    attachment = (Attachment.objects.select_related("message").filter(pk=pk, message__deleted_at__isnull=True)
                  .first())
    if attachment is None or not access.user.is_authenticated:
        raise Http404
    if not built.chat.visible(access).filter(pk=attachment.message.conversation_id).exists():
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(handle, as_attachment=not attachment.is_image, filename=attachment.name,
                            content_type=attachment.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
