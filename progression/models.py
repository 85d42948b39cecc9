"""A user's state, their daily check-ins, and the append-only ledger of every state change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from progression import rules


def _default_energy() -> int:
    return settings.ENGAGEMENT["ENERGY_START"]


def _default_capacity() -> int:
    return settings.ENGAGEMENT["INVENTORY_CAPACITY"]


class UserState(models.Model):
    """The one row per user that every mutation locks first (select_for_update)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    streak = models.IntegerField(default=0)
    longest_streak = models.IntegerField(default=0)
    energy = models.IntegerField(default=_default_energy)
    fatigue = models.IntegerField(default=0)
    loyalty = models.IntegerField(default=0)
    level = models.IntegerField(default=1)
    total_checkins = models.IntegerField(default=0)
    last_checkin_day = models.DateField(null=True, blank=True)
    inventory_count = models.IntegerField(default=0)
    inventory_capacity = models.IntegerField(default=_default_capacity)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user state"
        constraints = [
            models.CheckConstraint(condition=Q(streak__gte=0), name="progression_userstate_streak_nonneg"),
            models.CheckConstraint(
                condition=Q(longest_streak__gte=F("streak")),
                name="progression_userstate_longest_streak_gte_streak",
            ),
            models.CheckConstraint(
                condition=Q(energy__gte=0, energy__lte=100), name="progression_userstate_energy_range"
            ),
            models.CheckConstraint(
                condition=Q(fatigue__gte=0, fatigue__lte=100), name="progression_userstate_fatigue_range"
            ),
            models.CheckConstraint(condition=Q(loyalty__gte=0), name="progression_userstate_loyalty_nonneg"),
            models.CheckConstraint(condition=Q(level__gte=1), name="progression_userstate_level_min"),
            models.CheckConstraint(
                condition=Q(total_checkins__gte=0), name="progression_userstate_total_checkins_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(inventory_count__gte=0, inventory_count__lte=F("inventory_capacity")),
                name="progression_userstate_inventory_within_capacity",
            ),
            models.CheckConstraint(
                condition=Q(inventory_capacity__gte=0), name="progression_userstate_capacity_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"state of {self.user_id}"

    def to_values(self) -> rules.State:
        return rules.State(
            last_checkin_day=self.last_checkin_day,
            **{name: getattr(self, name) for name in rules.STATE_FIELDS},
        )

    def assign(self, values: rules.State) -> None:
        for name in rules.STATE_FIELDS:
            setattr(self, name, getattr(values, name))
        self.last_checkin_day = values.last_checkin_day


class DailyCheckIn(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkins")
    day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "daily check-in"
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="progression_dailycheckin_one_per_day"),
        ]
        indexes = [models.Index(fields=["user", "-id"], name="progression_checkin_user_id")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}"


class EventKind(models.TextChoices):
    CHECK_IN = "check_in", "Check-in"
    TOOL_PURCHASE = "tool_purchase", "Tool purchase"
    TOOL_USE = "tool_use", "Tool use"
    REWARD_CLAIM = "reward_claim", "Reward claim"
    ADJUSTMENT = "adjustment", "Adjustment"
    FREEZE_CONSUMED = "freeze_consumed", "Streak freeze consumed"
    STREAK_REPAIR = "streak_repair", "Streak repair"
    LEADERBOARD_PRIZE = "leaderboard_prize", "Leaderboard prize"


class StateEvent(models.Model):
    """One ledger row per state change: the signed deltas and the resulting values.

    Append-only: application code never updates or deletes a row.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    reference = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    streak_delta = models.IntegerField(default=0)
    longest_streak_delta = models.IntegerField(default=0)
    energy_delta = models.IntegerField(default=0)
    fatigue_delta = models.IntegerField(default=0)
    loyalty_delta = models.IntegerField(default=0)
    level_delta = models.IntegerField(default=0)
    total_checkins_delta = models.IntegerField(default=0)
    inventory_count_delta = models.IntegerField(default=0)
    inventory_capacity_delta = models.IntegerField(default=0)

    streak = models.IntegerField()
    longest_streak = models.IntegerField()
    energy = models.IntegerField()
    fatigue = models.IntegerField()
    loyalty = models.IntegerField()
    level = models.IntegerField()
    total_checkins = models.IntegerField()
    last_checkin_day = models.DateField(null=True, blank=True)
    inventory_count = models.IntegerField()
    inventory_capacity = models.IntegerField()

    class Meta:
        verbose_name = "state event"
        indexes = [models.Index(fields=["user", "-id"], name="progression_event_user_id")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} for {self.user_id}"

    def deltas(self) -> dict[str, int]:
        return {name: getattr(self, f"{name}_delta") for name in rules.STATE_FIELDS}
