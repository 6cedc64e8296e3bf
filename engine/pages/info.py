"""Info pages: sanitised markdown in the reader's language."""
from __future__ import annotations

from .base import CabinetView, label, markdown_html, render


class InfoPage(CabinetView):
    def kind_info(self, page):
        html = markdown_html(label(page.content, self.built))
        return render(self.request, self.built, "info.html", self.context(page, html=html))
