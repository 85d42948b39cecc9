"""StrictSerializer: unknown fields and wrong JSON types are refused, as the schema says."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from engagement.serializers import StrictSerializer


class Example(StrictSerializer):
    name = serializers.CharField(max_length=8, required=False)
    email = serializers.EmailField(required=False)
    count = serializers.IntegerField(required=False)
    ratio = serializers.FloatField(required=False)
    flag = serializers.BooleanField(required=False)
    color = serializers.ChoiceField(choices=["red", "1"], required=False)
    hour = serializers.ChoiceField(choices=[0, 12], required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    when = serializers.DateField(required=False)
    maybe = serializers.CharField(allow_null=True, required=False)


def errors_of(data) -> dict:
    serializer = Example(data=data)
    assert not serializer.is_valid()
    return serializer.errors


@pytest.mark.parametrize(
    "data",
    [
        {"name": 0},
        {"name": 1.5},
        {"name": True},
        {"name": ["a"]},
        {"email": 7},
        {"count": "5"},
        {"count": 5.0},
        {"count": True},
        {"ratio": "0.5"},
        {"ratio": False},
        {"flag": "true"},
        {"flag": 1},
        {"flag": "yes"},
        {"color": 1},  # DRF would match the choice "1"
        {"hour": "12"},
        {"tags": "a"},
        {"tags": ["a", 2]},
        {"when": 20240101},
        {"name": "a" + " " * 8},  # 9 characters sent: over max_length before any trimming
    ],
)
def test_strict_serializer_wrong_json_type_or_length_refused_naming_the_field(data):
    (name,) = data

    assert set(errors_of(data)) == {name}


def test_strict_serializer_right_types_accepted_as_sent():
    data = {
        "name": " Ann ",
        "email": "ann@example.com",
        "count": 5,
        "ratio": 1,
        "flag": False,
        "color": "1",
        "hour": 12,
        "tags": ["a", "b"],
        "when": "2024-01-01",
        "maybe": None,
    }
    serializer = Example(data=data)

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["name"] == "Ann"
    assert serializer.validated_data["count"] == 5
    assert serializer.validated_data["hour"] == 12
    assert serializer.validated_data["maybe"] is None


def test_strict_serializer_unknown_and_mistyped_fields_reported_together():
    assert set(errors_of({"name": 0, "is_staff": True})) == {"name", "is_staff"}


@pytest.mark.parametrize("data", [[], "text", 5, None])
def test_strict_serializer_body_not_an_object_refused(data):
    serializer = Example(data=data)

    assert not serializer.is_valid()
