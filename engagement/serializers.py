"""Serializers shared by every app: strict input, and the error shape for the schema."""

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses unknown fields (no silent mass assignment)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # the error body's "fields" key
        child=serializers.ListField(child=serializers.CharField()), required=False
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
