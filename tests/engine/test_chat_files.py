"""Chat attachments: the type from the bytes, size limits, names kept for display only, and the scoped
download view (engine/chat/files.py, engine/chat/download.py)."""
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from engine.chat import files, service
from engine.chat.errors import Invalid
from engine.chat.models import Attachment
from engine.spec import ChatSpec, Label
from tests.engine.test_chat_policy import build_world

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(publish_yaml):
    return build_world(publish_yaml)


def image_bytes(fmt="PNG", size=(4, 3)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, fmt)
    return out.getvalue()


def zip_bytes(names):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return out.getvalue()


def chat(kinds=("image", "pdf", "text", "office"), max_size=1000):
    return ChatSpec("c", "direct", Label(), attachment_kinds=tuple(kinds), max_size=max_size)


def upload(name, data):
    return SimpleUploadedFile(name, data, content_type="text/html")  # the browser's word is never used


@pytest.mark.parametrize(("data", "expected"), [
    (image_bytes("PNG"), ("image", "image/png", "png")),
    (image_bytes("JPEG"), ("image", "image/jpeg", "jpg")),
    (image_bytes("GIF"), ("image", "image/gif", "gif")),
    (image_bytes("WEBP"), ("image", "image/webp", "webp")),
    (PDF, ("pdf", "application/pdf", "pdf")),
    ("Привет, plain text\n".encode(), ("text", "text/plain; charset=utf-8", "txt")),
    (zip_bytes({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w/>"}),
     ("office", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")),
    (zip_bytes({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<x/>"}),
     ("office", "application/vnd.oasis.opendocument.text", "odt")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ("office", "application/vnd.ms-office", "doc")),
])
def test_the_type_is_found_from_the_bytes(data, expected):
    assert files.sniff(data) == expected


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>\x00',  # svg with a NUL: not text either
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # a PNG signature over garbage
    image_bytes("PNG")[:40],  # a truncated image
    zip_bytes({"evil.exe": "MZ"}),  # any zip is not an office document
    b"MZ\x90\x00\x03\x00\x00\x00",  # an executable
    b"\xff\xfe\x00h\x00i",  # not UTF-8
])
def test_unknown_or_forged_bytes_are_refused(data):
    assert files.sniff(data) is None


def test_svg_text_is_text_never_an_image():
    assert files.sniff(b'<svg onload="alert(1)"/>') == ("text", "text/plain; charset=utf-8", "txt")
    with pytest.raises(Invalid):
        files.check_files(chat(kinds=("image",)), [upload("x.svg", b'<svg onload="alert(1)"/>')])


def test_check_files_applies_the_chats_kinds_and_size():
    ok = files.check_files(chat(), [upload("photo.html", image_bytes())])
    assert [(c.name, c.kind, c.content_type, c.is_image) for c in ok] == [("photo.html", "image", "image/png", True)]
    with pytest.raises(Invalid) as caught:
        files.check_files(chat(kinds=("pdf",), max_size=50), [
            upload("big.pdf", PDF + b"x" * 10), upload("notes.pdf", b"hello"), upload("empty.pdf", b"")])
    assert caught.value.fields == {"files": [
        {"message": "'big.pdf' is larger than 50\xa0bytes.", "code": "file_size"},
        {"message": "'notes.pdf' is not a file of an allowed type (pdf).", "code": "file_type"},
        {"message": "'empty.pdf' is empty.", "code": "empty"},
    ]}
    with pytest.raises(Invalid) as caught:
        files.check_files(chat(kinds=(), max_size=0), [upload("a.pdf", PDF)])
    assert caught.value.fields == {"files": [{"message": "This chat takes no attachments.", "code": "no_files"}]}
    with pytest.raises(Invalid) as caught:
        files.check_files(chat(), [upload(f"{i}.pdf", PDF) for i in range(11)])
    assert caught.value.fields["files"][0]["code"] == "too_many"


def test_a_file_larger_than_its_declared_size_is_refused_while_reading():
    class Lying(io.BytesIO):
        name, size = "small.pdf", 10

    with pytest.raises(Invalid) as caught:
        files.check_files(chat(max_size=100), [Lying(PDF + b"x" * 200)])
    assert caught.value.fields["files"][0]["code"] == "file_size"


@pytest.mark.parametrize(("given", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\report.pdf", "report.pdf"),
    ("evil\u202egpj.exe", "evilgpj.exe"),  # a right-to-left override would disguise the extension
    ("line\nbreak.txt", "linebreak.txt"),
    ("....hidden", "hidden"),
    ("", "file"),
    ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
])
def test_display_names(given, shown):
    assert files.display_name(given) == shown


def test_stored_names_are_random():
    item = files.check_files(chat(), [upload("x.pdf", PDF)])[0]
    names = {item.storage_name() for _ in range(20)}
    assert len(names) == 20 and all(n.endswith(".pdf") and len(n) > 20 for n in names)


# --- the download view -------------------------------------------------------------------------

@pytest.fixture
def shared(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    conv = service.start(world.access(world.ann), "reception", text="see files", files=[
        SimpleUploadedFile("<img src=x onerror=alert(1)>.png", image_bytes()),
        SimpleUploadedFile('report"; filename=evil.html.pdf', PDF)])
    image, pdf = Attachment.objects.filter(message__conversation=conv).order_by("pk")
    return world, conv, image, pdf


def test_participants_download_with_safe_headers(shared, client):
    world, conv, image, pdf = shared
    client.force_login(world.ann)
    response = client.get(f"/chat/files/{image.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == image_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert response["Cache-Control"].startswith("private")
    response = client.get(f"/chat/files/{pdf.pk}/")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Disposition"] == 'attachment; filename="report\\"; filename=evil.html.pdf"'  # quoted
    client.force_login(world.rita)  # staff of the chat
    assert client.get(f"/chat/files/{pdf.pk}/").status_code == 200


def test_nobody_else_can_download_and_ids_cannot_be_probed(shared, client):
    world, conv, image, pdf = shared
    for user in (world.bob, world.eve):
        client.force_login(user)
        assert client.get(f"/chat/files/{image.pk}/").status_code == 404
        assert client.get(f"/chat/files/{pdf.pk + 1000}/").status_code == 404
    client.logout()
    assert client.get(f"/chat/files/{image.pk}/").status_code == 404
    client.force_login(world.ann)
    assert client.post(f"/chat/files/{image.pk}/").status_code in (403, 405)  # read only
    message = image.message
    service.delete(world.access(world.ann), message.pk)
    assert client.get(f"/chat/files/{image.pk}/").status_code == 404  # deleted with its message


# --- storing: a post rolled back leaves no file -------------------------------------------------------

def stored_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_posts_files_reach_storage_when_it_commits(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    conv = service.start(world.access(world.ann), "reception")
    message = service.post(world.access(world.ann), conv, "", [SimpleUploadedFile("a.pdf", PDF)])
    attachment = Attachment.objects.get(message=message)
    assert stored_files(tmp_path) == [attachment.file.name]
    assert attachment.file.name.startswith("chat/") and attachment.file.read() == PDF


def test_a_post_rolled_back_by_the_callers_transaction_leaves_no_file(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    conv = service.start(world.access(world.ann), "reception")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        service.post(world.access(world.ann), conv, "", [SimpleUploadedFile("a.png", image_bytes())])
        service.start(world.access(world.ann), "reception", text="and this", files=[upload("b.pdf", PDF)])
        1 / 0  # noqa: B018 - whatever fails later in the caller's transaction
    assert not Attachment.objects.exists()
    assert stored_files(tmp_path) == []
