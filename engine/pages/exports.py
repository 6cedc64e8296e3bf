"""Exports of list pages (``export: [csv, xlsx]``): exactly the rows and columns the reader sees, streamed.

The rows are those of the list page with the request's filters, search and sort (its ``Listing``), with
no row limit; the columns are the page's columns (paths included) the reader may see. Rows are read
with one query through a database cursor (``iterator``), so memory and query counts stay flat whatever
the size: CSV streams line by line (``StreamingHttpResponse``), XLSX is written by openpyxl in
write-only mode to a temporary file and streamed from it.
"""
from __future__ import annotations

import csv
import re
import tempfile

from django.http import FileResponse, Http404, StreamingHttpResponse
from django.utils import timezone

from ..display import display
from .base import CabinetView, label
from .lists import listing

CHUNK = 500  # rows read per round trip of the cursor
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting like a formula is written as text (CSV injection)


class Echo:
    """A file-like object whose ``write`` returns what it was given (for ``csv.writer`` streaming)."""

    def write(self, value):
        return value


def safe(text):
    """``text`` made inert for spreadsheets: a leading formula character is escaped with a quote."""
    return "'" + text if text and text.startswith(FORMULA) else text


class ExportView(CabinetView):
    """``p/<page>/export/<format>/``: the list page's rows as CSV or XLSX."""

    def get(self, request, page, fmt):
        spec = self.page_or_404(page)
        if spec.kind != "list" or fmt not in spec.export:
            raise Http404
        found = listing(self, spec, limit=None)
        name = f"{spec.name}-{timezone.localdate().isoformat()}.{fmt}"
        return self.csv(found, name) if fmt == "csv" else self.xlsx(found, name, label(spec.title, self.built))

    def lines(self, found):
        """The heading, then one list of texts per row; rows are read in chunks through the cursor."""
        columns, currency = found.columns, self.built.spec.currency
        yield [c.title for c in columns]
        batch = []
        for row in found.rows.iterator(chunk_size=CHUNK):
            batch.append(row)
            if len(batch) == CHUNK:
                yield from self.texts(columns, batch, currency)
                batch = []
        yield from self.texts(columns, batch, currency)

    def texts(self, columns, rows, currency):
        columns.load(rows)  # computed values along paths, many-refs: one query per entity and chunk
        for row in rows:
            yield [safe(str(columns.value(row, c, currency, display))) for c in columns]

    def csv(self, found, name):
        writer = csv.writer(Echo())
        response = StreamingHttpResponse((writer.writerow(line) for line in self.lines(found)),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def xlsx(self, found, name, title):
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(title=re.sub(r"[\\/?*\[\]:]", " ", title)[:31].strip() or "Sheet")
        for line in self.lines(found):
            sheet.append(line)
        target = tempfile.TemporaryFile()  # removed when the response closes it
        book.save(target)
        target.seek(0)
        return FileResponse(target, as_attachment=True, filename=name,
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
