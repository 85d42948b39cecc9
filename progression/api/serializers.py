"""Output shapes of state, check-ins and ledger events."""

from rest_framework import serializers

from accounts.api.serializers import UserOutputSerializer
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.rules import STATE_FIELDS

STATE_OUTPUT_FIELDS = (*STATE_FIELDS, "last_checkin_day")


def state_data(state) -> dict | None:
    """StateSerializer's output for a UserState or rules.State, without DRF's field machinery.

    Hot paths render with this; StateSerializer documents the same shape in the schema.
    """
    if state is None:
        return None
    data = {name: getattr(state, name) for name in STATE_OUTPUT_FIELDS}
    day = data["last_checkin_day"]
    data["last_checkin_day"] = day.isoformat() if day is not None else None
    return data


def me_data(user, state) -> dict:
    """MeSerializer's output (user + state)."""
    return {"user": UserOutputSerializer(user).data, "state": state_data(state)}


class StateSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserState
        fields = list(STATE_OUTPUT_FIELDS)
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    state = StateSerializer(allow_null=True)


class CheckInSerializer(serializers.ModelSerializer):
    class Meta:
        model = DailyCheckIn
        fields = ["id", "day", "created_at"]
        read_only_fields = fields


class ChangesSerializer(serializers.Serializer):
    """Signed change of every state field made by the request (rewards included)."""

    streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()
    energy = serializers.IntegerField()
    fatigue = serializers.IntegerField()
    loyalty = serializers.IntegerField()
    level = serializers.IntegerField()
    total_checkins = serializers.IntegerField()
    inventory_count = serializers.IntegerField()
    inventory_capacity = serializers.IntegerField()


class UnlockedRewardSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    claimed = serializers.BooleanField(help_text="True when the reward was auto-claimed.")


class CheckInResultSerializer(serializers.Serializer):
    check_in = CheckInSerializer()
    state = StateSerializer()
    changes = ChangesSerializer()
    unlocked_rewards = UnlockedRewardSerializer(many=True)
    leveled_up = serializers.BooleanField()


class EventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    deltas = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta:
        model = StateEvent
        fields = ["id", "kind", "reference", "created_at", "deltas", "result"]
        read_only_fields = fields

    def get_deltas(self, event) -> ChangesSerializer:
        return event.deltas()

    def get_result(self, event) -> StateSerializer:
        return {name: getattr(event, name) for name in [*STATE_FIELDS, "last_checkin_day"]}
