"""Serializers shared by every app: strict input, and the error shape for the schema."""

from __future__ import annotations

from rest_framework import serializers

# The JSON type each field kind takes, as the schema states it. DRF's fields coerce ("5" is an
# integer, 0 a string, "yes" a boolean); a strict input serializer refuses what the schema
# calls the wrong type. Checked in order: the first class a field is an instance of decides.
_STRING_FIELDS = (
    serializers.CharField,
    serializers.UUIDField,
    serializers.DateTimeField,
    serializers.DateField,
    serializers.TimeField,
    serializers.DurationField,
)


def _json_type_error(field: serializers.Field, value) -> str | None:
    """Why `value` (as parsed from JSON) has the wrong type for `field`, or None if it is right."""
    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, serializers.BooleanField):
        ok = isinstance(value, bool)
    elif isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(field, _STRING_FIELDS):
        ok = isinstance(value, str)
    elif isinstance(field, serializers.MultipleChoiceField | serializers.ListField):
        if not isinstance(value, list):
            return field.error_messages.get("not_a_list", "Expected a list.").format(
                input_type=type(value).__name__
            )
        if isinstance(field, serializers.ListField):
            return next(filter(None, (_json_type_error(field.child, item) for item in value)), None)
        return None
    elif isinstance(field, serializers.ChoiceField):
        # DRF matches str(value) against the choices, so 1 would pass for the choice "1".
        if type(value) not in {type(choice) for choice in field.choices}:
            return field.error_messages["invalid_choice"].format(input=value)
        return None
    else:
        return None  # nested serializers and free-form JSON check themselves
    if ok:
        return None
    return str(field.error_messages.get("invalid", "Invalid type."))


def _raw_length_error(field: serializers.Field, value) -> str | None:
    """max_length counts what was sent: DRF checks it after trimming whitespace."""
    max_length = getattr(field, "max_length", None)
    if isinstance(field, serializers.CharField) and max_length is not None and len(value) > max_length:
        return field.error_messages["max_length"].format(max_length=max_length)
    return None


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses unknown fields (no silent mass assignment) and wrong JSON types.

    The OpenAPI schema declares its body closed (`additionalProperties: false`; see
    engagement.schema.StrictSerializerExtension), and every field takes exactly the JSON type the
    schema gives it: a number is not a string, "5" is not an integer, "true" is not a boolean.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name, value in data.items():
                field = self.fields.get(name)
                if field is None or field.read_only:
                    continue
                problem = _json_type_error(field, value)
                if problem is None and isinstance(value, str):
                    problem = _raw_length_error(field, value)
                if problem is not None:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # the error body's "fields" key
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    retry_at = serializers.DateTimeField(
        required=False, help_text="When the refused change is allowed (settings_change_too_soon)."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class EmptyInputSerializer(StrictSerializer):
    """The body of a POST that takes no input: nothing, or {}; any field is refused."""


def require_empty_body(request) -> None:
    """400 validation_error when a body-less POST gets fields (never silently ignored)."""
    data = request.data
    if isinstance(data, dict) and not data:
        return  # no body, or {}: the common case costs no serializer
    EmptyInputSerializer(data=data).is_valid(raise_exception=True)


def validated_body(serializer_class: type[serializers.Serializer], request) -> dict:
    """The request body through an input serializer: its validated data, or 400 validation_error."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
