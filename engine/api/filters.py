"""List query parameters (filters, search, ordering) that answer bad values with a 400 naming the parameter.

Every parser of a query parameter refuses what the database could not take (NUL characters on
PostgreSQL, numbers or dates past what a column stores, unbounded lists) before a query runs.
"""
from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters
from rest_framework.exceptions import ValidationError

MAX_SEARCH_TERMS = 10
MAX_SEARCH_LENGTH = 200
MAX_IN_VALUES = 100
MAX_ORDERING_TERMS = 10


def refuse(param, message, code="invalid"):
    """A 400 naming the query parameter ``param``."""
    return ValidationError({param: [ValidationError(message, code=code).detail[0]]})


class FilterSet(django_filters.FilterSet):
    """A FilterSet whose every filter is applied on its own, so a value the database refuses names its filter."""

    def filter_queryset(self, queryset):
        for name, value in self.form.cleaned_data.items():
            try:
                queryset = self.filters[name].filter(queryset, value)
            except (DjangoValidationError, OverflowError) as exc:
                # e.g. a datetime whose UTC offset moves it before year 1 or after year 9999
                message = exc.messages[0] if isinstance(exc, DjangoValidationError) else "Value out of range."
                raise refuse(name, message) from None
        return queryset


class FilterBackend(DjangoFilterBackend):
    """django-filter with bounded lists; skipped when no query parameter names a filter (building the form
    costs milliseconds)."""

    def filter_queryset(self, request, queryset, view):
        names = view.filterset_class.base_filters
        used = [param for param in request.query_params if param in names]
        if not used:
            return queryset
        for param in used:
            if param.endswith("__in") and request.query_params[param].count(",") >= MAX_IN_VALUES:
                raise refuse(param, f"Give at most {MAX_IN_VALUES} values.", "max_length")
        return super().filter_queryset(request, queryset, view)


class SearchFilter(filters.SearchFilter):
    """DRF's search, with its refusals under ``search`` and a bounded number and length of terms."""

    def get_search_terms(self, request):
        text = request.query_params.get(self.search_param, "")
        if "\x00" in text:
            raise refuse(self.search_param, "Null characters are not allowed.", "null_characters_not_allowed")
        if len(text) > MAX_SEARCH_LENGTH:
            raise refuse(self.search_param, f"Search with at most {MAX_SEARCH_LENGTH} characters.", "max_length")
        terms = super().get_search_terms(request)
        if len(terms) > MAX_SEARCH_TERMS:
            raise refuse(self.search_param, f"Search with at most {MAX_SEARCH_TERMS} words.", "max_length")
        return terms


class OrderingFilter(filters.OrderingFilter):
    """DRF's ordering, refusing unknown (or hidden) fields with a 400 instead of dropping them silently."""

    def get_ordering(self, request, queryset, view):
        text = request.query_params.get(self.ordering_param)
        if text is None:
            return self.get_default_ordering(view)
        terms = [term.strip() for term in text.split(",") if term.strip()]
        if not terms:
            return self.get_default_ordering(view)
        valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        wrong = [term for term in terms if term.removeprefix("-") not in valid]
        if wrong or len(terms) > MAX_ORDERING_TERMS:
            allowed = ", ".join(sorted(valid))
            shown = wrong[0] if wrong else text
            raise refuse(self.ordering_param, f"Cannot order by '{shown[:50]}'; order by at most "
                         f"{MAX_ORDERING_TERMS} of: {allowed} (prefix '-' for descending).")
        return list(dict.fromkeys(terms))  # 'a,a' orders by a once
