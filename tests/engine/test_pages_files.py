"""Scoped downloads of file and image fields, thumbnails, and /media/ serving nothing."""
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from PIL import Image


@pytest.fixture
def resort(solution, settings, tmp_path):
    from django.core.management import call_command

    settings.MEDIA_ROOT = str(tmp_path)
    call_command("demo", seed_only=True, stdout=io.StringIO())
    return solution


def png(size=(640, 320)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def login(client, username):
    assert client.login(username=username, password=f"{username}-demo")
    return client


def with_photo(resort, name="Champagne to the room", data=None, filename="champagne.png"):
    service = resort.model("service").objects.get(name=name)
    service.photo.save(filename, ContentFile(data or png()), save=True)
    return service


def test_an_image_is_served_to_whoever_may_see_its_row_with_safe_headers(resort, client, tmp_path):
    service = with_photo(resort)
    login(client, "anna")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/files/service/{service.pk}/photo/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Disposition"].startswith("inline") and b"".join(response.streaming_content)[:4] == b"\x89PNG"
    assert len(queries) <= 6  # session, user, groups, the row: no per-field lookups
    thumb = client.get(f"/files/service/{service.pk}/photo/thumb/96/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(b"".join(thumb.streaming_content)))
    assert image.size == (96, 48)
    assert list((tmp_path / "thumbs" / "service" / "photo").iterdir())  # made once, kept on disk
    assert client.get(f"/files/service/{service.pk}/photo/thumb/97/").status_code == 404


@pytest.mark.parametrize("url", [
    "/files/service/{pk}/name/",  # not a file field
    "/files/service/{pk}/nope/",
    "/files/nope/{pk}/photo/",
    "/files/service/999999/photo/",
    "/files/service/{other}/photo/",  # a service without a photo
])
def test_what_is_not_a_stored_file_the_reader_may_see_is_404(resort, client, url):
    service = with_photo(resort)
    other = resort.model("service").objects.exclude(pk=service.pk).first()
    login(client, "anna")
    assert client.get(url.format(pk=service.pk, other=other.pk)).status_code == 404


def test_rows_out_of_scope_anonymous_users_and_media_urls_get_nothing(resort, client):
    service = with_photo(resort)
    assert client.get(f"/files/service/{service.pk}/photo/").status_code == 404  # anonymous
    assert client.get(f"/media/{service.photo.name}").status_code == 404  # no public media
    resort.model("service").objects.filter(pk=service.pk).update(available=False)  # out of a guest's scope
    login(client, "anna")
    assert client.get(f"/files/service/{service.pk}/photo/").status_code == 404
    assert client.get(f"/files/service/{service.pk}/photo/thumb/96/").status_code == 404
    client.logout()
    login(client, "reception")
    assert client.get(f"/files/service/{service.pk}/photo/").status_code == 200


def test_an_svg_or_broken_image_downloads_and_has_no_thumbnail(resort, client):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    service = with_photo(resort, data=svg, filename="evil.svg")
    login(client, "anna")
    response = client.get(f"/files/service/{service.pk}/photo/")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] != "image/svg+xml"
    assert client.get(f"/files/service/{service.pk}/photo/thumb/96/").status_code == 404


def test_a_hidden_field_is_not_served(publish_yaml, client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    built, _ = publish_yaml("""
entities:
  document:
    title: title
    fields:
      title: {type: string, required: true}
      scan: {type: file}
      cover: {type: image}
roles:
  reader:
    entities:
      document: {actions: [list, view], scope: all, fields: {view: [title, cover]}}
""")
    user = get_user_model().objects.create_user("rita", password="rita-pw-12345")
    user.groups.add(Group.objects.get_or_create(name="reader")[0])
    doc = built.model("document").objects.create(title="Contract")
    doc.scan.save("contract.pdf", ContentFile(b"%PDF-1.4 secret"), save=True)
    doc.cover.save("cover.png", ContentFile(png()), save=True)
    client.force_login(user)
    assert client.get(f"/files/document/{doc.pk}/scan/").status_code == 404
    assert client.get(f"/files/document/{doc.pk}/cover/").status_code == 200
    admin = get_user_model().objects.create_superuser("root", password="root-pw-12345")
    client.force_login(admin)
    pdf = client.get(f"/files/document/{doc.pk}/scan/")
    assert pdf.status_code == 200 and pdf["Content-Disposition"] == 'attachment; filename="contract.pdf"'


def test_template_tags_link_through_the_scoped_view(resort, rf):
    service = with_photo(resort)
    html = Template('{% load cabinet_files %}{% file_link s "photo" %}|{% file_url s "photo" %}|'
                    '{% thumb_url s "photo" 240 %}|{% file_link s "description" %}').render(Context({"s": service}))
    link, url, thumb, nothing = html.split("|")
    assert url == f"/files/service/{service.pk}/photo/" and thumb == f"{url}thumb/240/"
    assert re.fullmatch(rf'<a class="thumb" href="{url}"><img src="{url}thumb/96/" alt="champagne[^"]*\.png" '
                        r'width="96" height="96" loading="lazy" decoding="async"></a>', link)
    assert nothing == ""


def test_the_edit_form_links_the_current_file_through_the_scoped_view(resort, client):
    service = with_photo(resort)
    user = get_user_model().objects.create_superuser("root", password="root-pw-12345")
    client.force_login(user)
    html = client.get(f"/p/services/{service.pk}/edit/").content.decode()
    assert f'href="/files/service/{service.pk}/photo/"' in html and "/media/" not in html
    assert 'accept="image/*"' in html
