"""Template tags for file and image fields, served through the scoped view (``engine.pages.files``).

``{% load cabinet_files %}`` then:
- ``{% file_url row "contract" %}``: the download URL ("" when the field is empty);
- ``{% thumb_url row "photo" 240 %}``: a thumbnail URL (sizes 96, 240, 480);
- ``{% file_link row "photo" %}`` (optionally ``size=96 alt="..."``): an image as a linked, lazy thumbnail,
  any other file as a download link with its name; nothing when the field is empty.
The view checks the reader's rights on every request; the tags only build links.
"""
from django import template
from django.utils.html import format_html

from ..fieldtypes import FieldType
from ..pages.files import THUMB_SIZES, file_url, thumb_url

register = template.Library()


@register.simple_tag(name="file_url")
def file_url_tag(obj, field):
    return file_url(obj, field)


@register.simple_tag(name="thumb_url")
def thumb_url_tag(obj, field, size=THUMB_SIZES[1]):
    return thumb_url(obj, field, int(size))


@register.simple_tag
def file_link(obj, field, size=THUMB_SIZES[0], alt=""):
    url = file_url(obj, field)
    if not url:
        return ""
    name = getattr(obj, field).name.rsplit("/", 1)[-1]
    spec = obj._meta.model.spec.field(field)
    if spec is not None and spec.type is FieldType.IMAGE:
        return format_html('<a class="thumb" href="{}"><img src="{}" alt="{}" width="{}" height="{}" '
                           'loading="lazy" decoding="async"></a>', url, thumb_url(obj, field, int(size)),
                           alt or name, size, size)
    return format_html('<a class="file" href="{}" download>{}</a>', url, name)
