"""Child rows in a form page (``lines:``): an order with its lines, edited together and saved in one
transaction through ``engine.writes``, within each entity's rights.

Each ``lines`` entry becomes a ``LineSet``: the child rows of the parent the reader may view, each an
editable sub-form when the reader may update that entity (read-only text otherwise), with a "remove"
box when they may delete, and empty rows to fill when they may create (a few without JavaScript; the
"add a row" button of ``lines.js`` clones a template row). Posted fields are named
``<prefix>-<n>-<field>`` with ``<prefix>-<n>-id`` naming an existing row (only rows of this parent in the
reader's scope are accepted) and ``<prefix>-TOTAL`` the number of row slots.
"""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import writes
from .base import label
from .choices import label_fields, row_label
from .form_fields import formfield, offer_choices

MAX_SLOTS = 200  # row slots read from one POST, whatever TOTAL says


class LineSet:
    """The child rows of one ``lines`` entry for one parent row (``parent`` None on create)."""

    def __init__(self, view, index, line, parent, data=None, files=None):
        self.view, self.line, self.prefix = view, line, f"line{index}"
        access, built = view.access, view.built
        self.entity, self.model = line.entity, built.model(line.entity)
        self.title = label(line.title, built)
        self.can_create = access.can(line.entity, "create")
        self.can_update = access.can(line.entity, "update")
        self.can_delete = access.can(line.entity, "delete")
        related = [f.name for f in self.model._meta.concrete_fields if f.is_relation and f.name != line.via]
        self.rows = list(access.queryset(line.entity, "view").filter(**{line.via: parent})
                         .select_related(*related).order_by("pk")) if parent is not None else []
        editable = {action: self._names(access, action) for action in ("create", "update")}
        refs = {n for names in editable.values() for n in names if self.model._meta.get_field(n).is_relation}
        # every line form reads its ref choices from one query per field (the current values of all rows kept)
        self.shared = {n: sorted({pk for row in self.rows for pk in access.current_choices(row, n)}) for n in refs}
        self.create_class = self._form_class(editable["create"])
        self.update_class = self._form_class(editable["update"]) if editable["update"] else None
        self.bound = data is not None
        self.errors = []
        self.slots = self._slots(data, files)
        self.template = self._new_form("__prefix__") if self.can_create else None

    def _names(self, access, action):
        editable = set(access.editable_fields(self.entity, action)) - set(writes.state_fields(
            access.policy.built.spec, self.entity)) - {self.line.via}
        wanted = self.line.fields or access.editable_fields(self.entity, action)
        return [n for n in wanted if n in editable]

    def _form_class(self, names):
        from .forms import CabinetModelForm  # the page's own form class; forms imports this module

        return forms.modelform_factory(self.model, form=CabinetModelForm, fields=names or [],
                                       formfield_callback=formfield)

    def _form(self, form_class, key, instance=None, data=None, files=None):
        form = form_class(data, files, instance=instance, prefix=f"{self.prefix}-{key}")
        offer_choices(form, self.view.access, self.view.built, self.shared)
        if instance is None or instance.pk is None:
            form.force(self.view.access.resolved_forced(self.entity))
        return form

    def _new_form(self, key, data=None, files=None):
        return self._form(self.create_class, key, None, data, files)

    def _slots(self, data, files):
        """[{form, row, remove}] of the existing rows, then of the new ones (blank ones unbound)."""
        by_pk = {row.pk: row for row in self.rows}
        slots, seen = [], set()
        total = _count(data.get(f"{self.prefix}-TOTAL")) if data is not None else 0
        for key in range(total):
            name = f"{self.prefix}-{key}"
            raw = data.get(f"{name}-id", "")
            row = by_pk.get(int(raw)) if raw.isdigit() else None
            if raw and (row is None or row.pk in seen):
                continue  # a row of another parent, out of scope or named twice: not this form's to touch
            remove = bool(data.get(f"{name}-DELETE")) and row is not None and self.can_delete
            if row is not None:
                seen.add(row.pk)
                form = self._form(self.update_class, key, row, data, files) if self.update_class and \
                    self.can_update else None
                slots.append({"form": form, "row": row, "remove": remove, "key": key})
            elif self.can_create:
                form = self._new_form(key, data, files)
                if _filled(form, data, files):
                    slots.append({"form": form, "row": None, "remove": False, "key": key})
        for row in self.rows:  # rows the POST did not mention stay as they are
            if row.pk not in seen:
                slots.append({"form": None, "row": row, "remove": False, "key": None})
        if data is None:
            slots = [{"form": self._form(self.update_class, i, row) if self.update_class and self.can_update
                      else None, "row": row, "remove": False, "key": i} for i, row in enumerate(self.rows)]
            start = len(slots)
            extra = self.line.extra if self.can_create else 0
            extra = max(0, min(extra, self.line.max - len(slots))) or (1 if self.can_create and not slots else 0)
            slots += [{"form": self._new_form(start + i), "row": None, "remove": False, "key": start + i}
                      for i in range(extra)]
        shown = [slot["row"] for slot in slots if slot["row"] is not None and slot["form"] is None]
        if shown:  # rows shown as text: their refs' visibility read once for all of them
            spec = self.view.built.spec.entity(self.entity)
            fields = label_fields(spec, self.view.access.visible_fields(self.entity))
            refs = self.view.refs().load(shown, fields)
            for slot in slots:
                if slot["row"] is not None and slot["form"] is None:
                    slot["text"] = row_label(slot["row"], fields, self.view.built.spec.currency, refs)
        return slots

    @property
    def total(self):
        return max([s["key"] for s in self.slots if s["key"] is not None] + [-1]) + 1

    def is_valid(self):
        valid = all(s["form"].is_valid() for s in self.slots if s["form"] is not None and not s["remove"])
        kept = sum(1 for s in self.slots if not s["remove"])
        if kept < self.line.min:
            self.errors.append(ngettext("Add at least %(count)d row.", "Add at least %(count)d rows.",
                                        self.line.min) % {"count": self.line.min})
        if kept > self.line.max:
            self.errors.append(ngettext("At most %(count)d row.", "At most %(count)d rows.",
                                        self.line.max) % {"count": self.line.max})
        return valid and not self.errors

    def save(self, parent):
        """Write the child rows of ``parent`` (inside the caller's transaction); raise ``LineRefused`` with
        the refusal shown on its row."""
        access = self.view.access
        for slot in self.slots:
            form, row = slot["form"], slot["row"]
            try:
                if slot["remove"]:
                    writes.delete(access, self.entity, row, source="page")
                elif row is None:
                    writes.create(access, self.entity, {**form.write_data(), self.line.via: parent}, source="page")
                elif form is not None and form.has_changed():
                    writes.update(access, self.entity, row, form.write_data(), source="page")
            except writes.DomainError as refusal:
                if form is not None:
                    form.refuse(refusal)
                else:
                    self.errors.append(refusal.message)
                raise LineRefused(refusal) from None


class LineRefused(Exception):
    """A child row's write was refused; the whole form's transaction is rolled back."""

    def __init__(self, refusal):
        self.refusal = refusal
        super().__init__(refusal.message)


def line_sets(view, page, parent, data=None, files=None):
    return [LineSet(view, i, line, parent, data, files) for i, line in enumerate(page.lines)]


def _filled(form, data, files):
    """Whether anything was typed in a new row (an empty row of the no-JavaScript form is skipped)."""
    return any(data.get(form.add_prefix(name), "") not in ("", None) or (files and files.get(form.add_prefix(name)))
               for name in form.fields)


def _count(raw):
    try:
        return max(0, min(int(raw), MAX_SLOTS))
    except (TypeError, ValueError):
        return 0


def refusal_text():
    return _("A row below was not saved; nothing was saved.")

