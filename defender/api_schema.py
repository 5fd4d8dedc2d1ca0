"""How the OpenAPI schema (/api/schema/) documents what defender.api_contract makes common to every
endpoint: the error responses each operation can give, their body, and the token authentication."""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The body of every error response."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="A stable key for programs, e.g. `not_found`, `throttled`.")


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: ``detail`` and ``code`` (``invalid``) plus, for each invalid field, its messages."""

    class Meta:
        # Documented as additional properties in the schema: field name -> messages.
        ref_name = "ValidationError"


ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: see `detail` and each field's messages.",
    "401": "No credentials, or a token that is not valid, expired or revoked.",
    "403": "Your role does not allow this action.",
    "404": "No such record.",
    "429": "Too many requests: wait the seconds in the Retry-After header.",
}


def _model_field(field):
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return None
    try:
        return model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return None


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the error responses every operation can give."""

    def _error_codes(self) -> list[str]:
        codes = ["401", "403", "429"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view() or self.get_filter_backends():
            codes.insert(0, "400")
        if "{" in self.path:
            codes.append("404")
        return codes

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """Read-only fields of a ModelSerializer carry none of their model field's null/blank
        allowances; document what the API really sends (``null`` for an empty relation, ``""`` for an
        unset choice)."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        model_field = _model_field(field)
        if model_field is None or not field.read_only:
            return schema
        if model_field.null and isinstance(field, serializers.RelatedField):
            schema["nullable"] = True
        if model_field.blank and "enum" in schema and "" not in schema["enum"]:
            schema["enum"] = [*schema["enum"], ""]
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code in responses:
                continue
            body = ValidationErrorSerializer if code == "400" else ErrorSerializer
            responses[code] = self._get_response_for_code(body, code, direction=direction)
            responses[code]["description"] = ERROR_DESCRIPTIONS[code]
        return responses


def validation_error_postprocessing(result: dict, generator, request, public) -> dict:
    """Field messages sit beside ``detail`` and ``code``: say so in the ValidationError component."""
    component = result.get("components", {}).get("schemas", {}).get("ValidationError")
    if component is not None:
        component["additionalProperties"] = {}
    return result


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "defender.api_auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "dfa_<43 characters>",
            "description": "A personal API token (user menu > API tokens), sent as "
            "`Authorization: Bearer dfa_...`; `Token dfa_...` is accepted too.",
        }
