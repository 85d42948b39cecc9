"""Output shapes of state, check-ins, changes and ledger events: the one place they are rendered.

The serializers define every body (and the schema). The bodies every request of the hot paths
returns (the state, a change, me/) also have a hand-written renderer below its serializer,
equal to the serializer's output (progression/tests/test_render.py checks each pair): DRF's
per-field machinery costs more CPU than the rest of a GET me/.
"""

from dataclasses import asdict
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import UserOutputSerializer, user_data
from engagement.serializers import StrictSerializer
from progression.changes import ChangeResult
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.rules import STATE_FIELDS, State, StreakStatus, status_of
from progression.services import get_rules

STATE_OUTPUT_FIELDS = (*STATE_FIELDS, "last_checkin_day")


STATUS_FIELDS = (
    "timezone",
    "day_start_hour",
    "today",
    "checked_in_today",
    "next_day_starts_at",
    "streak_expires_at",
    "freezes_held",
    "pause",
)


class StateValuesSerializer(serializers.ModelSerializer):
    """The replayable values of a state, as a ledger event records them."""

    class Meta:
        model = UserState
        fields = list(STATE_OUTPUT_FIELDS)
        read_only_fields = fields


class PauseSerializer(serializers.Serializer):
    start_day = serializers.DateField()
    end_day = serializers.DateField()


class StateSerializer(serializers.ModelSerializer):
    """The state, with its streak status computed now from the same row (no query)."""

    timezone = serializers.CharField(source="status.timezone", help_text="IANA time zone of the local day.")
    day_start_hour = serializers.IntegerField(
        source="status.day_start_hour", help_text="Hour a local day starts."
    )
    today = serializers.DateField(source="status.today", help_text="The user's local day now.")
    checked_in_today = serializers.BooleanField(source="status.checked_in_today")
    next_day_starts_at = serializers.DateTimeField(source="status.next_day_starts_at")
    streak_expires_at = serializers.DateTimeField(
        source="status.streak_expires_at",
        allow_null=True,
        help_text="After this instant a check-in no longer continues the streak (freezes held and "
        "a scheduled pause counted); null when the streak is 0.",
    )
    freezes_held = serializers.IntegerField(source="status.freezes_held")
    pause = PauseSerializer(source="status.pause", allow_null=True, help_text="Scheduled or running pause.")

    class Meta:
        model = UserState
        fields = [*STATE_OUTPUT_FIELDS, *STATUS_FIELDS]
        read_only_fields = fields

    def to_representation(self, instance):
        return super().to_representation(_WithStatus(instance))


class _WithStatus:
    """A state (UserState or rules.State) and its streak status, for StateSerializer."""

    def __init__(self, state):
        self.values = state.to_values() if isinstance(state, UserState) else state
        self.status = status_now(self.values)

    def __getattr__(self, name):
        return getattr(self.values, name)


def status_now(values: State) -> StreakStatus:
    return status_of(values, now=timezone.now(), rules=get_rules())


def _instant(value: datetime | None) -> str | None:
    """An instant as DRF's DateTimeField renders it (UTC, "Z")."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def state_data(state) -> dict | None:
    """StateSerializer(state).data for a UserState or rules.State, or None."""
    if state is None:
        return None
    values = state.to_values() if isinstance(state, UserState) else state
    data = {name: getattr(values, name) for name in STATE_OUTPUT_FIELDS}
    day = data["last_checkin_day"]
    data["last_checkin_day"] = day.isoformat() if day is not None else None
    status = status_now(values)
    pause = status.pause
    data.update(
        timezone=status.timezone,
        day_start_hour=status.day_start_hour,
        today=status.today.isoformat(),
        checked_in_today=status.checked_in_today,
        next_day_starts_at=_instant(status.next_day_starts_at),
        streak_expires_at=_instant(status.streak_expires_at),
        freezes_held=status.freezes_held,
        pause=None
        if pause is None
        else {"start_day": pause.start_day.isoformat(), "end_day": pause.end_day.isoformat()},
    )
    return data


class PauseInputSerializer(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=settings.ENGAGEMENT["PAUSE_MAX_DAYS"])


class PauseResultSerializer(serializers.Serializer):
    pause = PauseSerializer()
    state = StateSerializer()


class MeSerializer(serializers.Serializer):
    user = UserOutputSerializer()
    state = StateSerializer(allow_null=True)


def me_data(user, state) -> dict:
    """MeSerializer({"user": user, "state": state}).data."""
    return {"user": user_data(user), "state": state_data(state)}


class CheckInSerializer(serializers.ModelSerializer):
    class Meta:
        model = DailyCheckIn
        fields = ["id", "day", "created_at"]
        read_only_fields = fields


class ChangesSerializer(serializers.Serializer):
    """Signed change of every state field made by the request (rewards included)."""

    def get_fields(self):
        return {name: serializers.IntegerField() for name in STATE_FIELDS}


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


class RepairResultSerializer(serializers.Serializer):
    state = StateSerializer(source="after")
    changes = ChangesSerializer()


class CheckInResultSerializer(ChangeBodySerializer):
    check_in = CheckInSerializer()


def check_in_data(checkin: DailyCheckIn) -> dict:
    """CheckInSerializer(checkin).data, without building the serializer's fields."""
    return {"id": checkin.pk, "day": checkin.day.isoformat(), "created_at": _instant(checkin.created_at)}


def check_in_result_data(result) -> dict:
    """CheckInResultSerializer(result).data for a progression.services.CheckInResult."""
    return {"check_in": check_in_data(result.check_in), **change_data(result.change)}


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

    @extend_schema_field(StateValuesSerializer)
    def get_result(self, event) -> dict:
        return {name: getattr(event, name) for name in STATE_OUTPUT_FIELDS}
