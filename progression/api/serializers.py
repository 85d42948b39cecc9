"""Output shapes of state, check-ins, changes and ledger events: the one place they are rendered.

The serializers define every body (and the schema). The bodies every request of the hot paths
returns (the state, a change, me/) also have a hand-written renderer below its serializer,
equal to the serializer's output (progression/tests/test_render.py checks each pair): DRF's
per-field machinery costs more CPU than the rest of a GET me/.
"""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import UserOutputSerializer
from progression.changes import ChangeResult
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.rules import STATE_FIELDS

STATE_OUTPUT_FIELDS = (*STATE_FIELDS, "last_checkin_day")


class StateSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserState
        fields = list(STATE_OUTPUT_FIELDS)
        read_only_fields = fields


def state_data(state) -> dict | None:
    """StateSerializer(state).data for a UserState or rules.State, or None."""
    if state is None:
        return None
    data = {name: getattr(state, name) for name in STATE_OUTPUT_FIELDS}
    day = data["last_checkin_day"]
    data["last_checkin_day"] = day.isoformat() if day is not None else None
    return data


class MeSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    state = StateSerializer(allow_null=True)


def me_data(user, state) -> dict:
    """MeSerializer({"user": user, "state": state}).data."""
    return {"user": UserOutputSerializer(user).data, "state": state_data(state)}


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


class ChangeBodySerializer(serializers.Serializer):
    """The fields every state-changing answer has, read from the result's `change`."""

    state = StateSerializer(source="change.after")
    changes = ChangesSerializer(source="change.changes")
    unlocked_rewards = UnlockedRewardSerializer(source="change.unlocked_rewards", many=True)
    leveled_up = serializers.BooleanField(source="change.leveled_up")


def change_data(change: ChangeResult) -> dict:
    """ChangeBodySerializer's output for a result whose `change` is `change`."""
    return {
        "state": state_data(change.after),
        "changes": change.changes,
        "unlocked_rewards": [asdict(reward) for reward in change.unlocked_rewards],
        "leveled_up": change.leveled_up,
    }


class CheckInResultSerializer(ChangeBodySerializer):
    check_in = CheckInSerializer()


def check_in_result_data(result) -> dict:
    """CheckInResultSerializer(result).data for a progression.services.CheckInResult."""
    return {"check_in": CheckInSerializer(result.check_in).data, **change_data(result.change)}


class EventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    deltas = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta:
        model = StateEvent
        fields = ["id", "kind", "reference", "created_at", "deltas", "result"]
        read_only_fields = fields

    @extend_schema_field(ChangesSerializer)
    def get_deltas(self, event) -> dict[str, int]:
        return event.deltas()

    @extend_schema_field(StateSerializer)
    def get_result(self, event) -> dict:
        return {name: getattr(event, name) for name in [*STATE_FIELDS, "last_checkin_day"]}
