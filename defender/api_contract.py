"""What every /api/v1/ endpoint has in common: pagination, throttling, the error body and how the
OpenAPI schema documents them.

Errors: every 4xx body is a JSON object with ``detail`` (a sentence for people) and ``code`` (a stable
key for programs: ``invalid``, ``not_authenticated``, ``token_expired``, ``permission_denied``,
``not_found``, ``throttled``, ...). A validation error (400) also carries each invalid field's
messages under the field's name, as DRF does (``{"detail": ..., "code": "invalid", "name":
["..."]}``); errors that concern no single field are in ``non_field_errors``.

Lists: limit/offset pages (``count``, ``next``, ``previous``, ``results``) of at most
``API_MAX_PAGE_SIZE`` rows. Activities, an append-only table of millions of rows, page by cursor
(``next``, ``previous``, ``results``): counting and deep offsets would be slow there.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ApiPagination(LimitOffsetPagination):
    default_limit = settings.REST_FRAMEWORK["PAGE_SIZE"]
    max_limit = settings.API_MAX_PAGE_SIZE


class LiveRateMixin:
    """DRF binds the rates once at import; reading them per request lets tests and settings
    overrides change them."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ApiUserRateThrottle(LiveRateMixin, UserRateThrottle):
    """Per signed-in user, shared by their session and all their tokens (API_THROTTLE_RATE)."""


class ApiAnonRateThrottle(LiveRateMixin, AnonRateThrottle):
    """Per client IP for requests without credentials (API_ANON_THROTTLE_RATE)."""


class IdFilter(django_filters.NumberFilter):
    """A filter on a record id: a whole number the database can hold. Anything else is a 400 with the
    field's message, where a plain NumberFilter passes 1e300 on to a database error."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


# The code of an error body a view built itself, by status.
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [message for item in value.values() for message in _messages(item)]
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def _validation_body(data) -> dict:
    if isinstance(data, list):
        return {"detail": " ".join(_messages(data)) or "Invalid input.", "code": "invalid"}
    first_field, first_errors = next(iter(data.items()), ("", []))
    first = next(iter(_messages(first_errors)), "Invalid input.")
    summary = first if first_field in ("non_field_errors", "detail") else f"{first_field}: {first}"
    return {**data, "detail": summary, "code": "invalid"}


def api_exception_handler(exc: Exception, context: dict):
    """DRF's handler, with services' Django ValidationErrors as 400s and every body given
    ``detail`` and ``code``."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
    # Imported here: this module is loaded while rest_framework.views is still being defined.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(response.data)
    elif isinstance(response.data, dict) and "detail" in response.data:
        if isinstance(exc, exceptions.APIException):
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        else:  # Django's Http404 and PermissionDenied, which DRF answers for us
            code = "not_found" if isinstance(exc, Http404) else "permission_denied"
        response.data = {**response.data, "code": code}
    return response


def error_body(data, status_code: int):
    """Any error body as the API's shape: a 400's field messages gain ``detail`` and ``code``; other
    bodies gain the ``code`` of their status."""
    if isinstance(data, dict) and "code" in data and "detail" in data:
        return data
    if status_code == 400:
        return _validation_body(data)
    code = STATUS_CODES.get(status_code, "error")
    summary = " ".join(_messages(data)) or code.replace("_", " ").capitalize()
    if isinstance(data, dict):
        return {"detail": summary, **data, "code": code}
    return {"detail": summary, "code": code}


class ApiJSONRenderer(JSONRenderer):
    """JSON, with error bodies that views build themselves (``Response({...}, status=400)``) brought
    to the same shape as raised errors, so every 4xx of every endpoint carries ``detail`` and
    ``code``."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400 and data is not None:
            data = error_body(data, response.status_code)
        return super().render(data, accepted_media_type, renderer_context)
