"""A user's state, their daily check-ins, and the append-only ledger of every state change."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

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
    # Local days (README "Local days and streak protection"). The rest is kept on this row so
    # that every state body can carry the streak status without a query of its own.
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone name.")
    day_start_hour = models.SmallIntegerField(default=0, help_text="Hour (0..23) a local day starts at.")
    settings_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="Last change of the time zone or day start."
    )
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    freezes_held = models.IntegerField(default=0, help_text="Streak freezes in the inventory.")
    pause_start_day = models.DateField(null=True, blank=True, help_text="The latest pause (StreakPause).")
    pause_end_day = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: what lock_state read with the lock for the after-change consumers, by the
    # name of each read (progression.changes.LockedRead). Replaced, never changed in place
    # (the class's empty default is shared).
    locked_reads: Mapping[str, Any] = MappingProxyType({})

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
            models.CheckConstraint(
                condition=Q(day_start_hour__gte=0, day_start_hour__lte=23),
                name="progression_userstate_day_start_hour_range",
            ),
            models.CheckConstraint(
                condition=Q(freezes_held=0) | Q(freezes_held__gt=0, freezes_held__lte=F("inventory_count")),
                name="progression_userstate_freezes_within_inventory",
            ),
            models.CheckConstraint(
                condition=Q(pause_start_day__isnull=True, pause_end_day__isnull=True)
                | Q(
                    pause_start_day__isnull=False,
                    pause_end_day__isnull=False,
                    pause_end_day__gte=F("pause_start_day"),
                ),
                name="progression_userstate_pause_days",
            ),
        ]

    def __str__(self) -> str:
        return f"state of {self.user_id}"

    def to_values(self) -> rules.State:
        return rules.State(
            last_checkin_day=self.last_checkin_day,
            protection=rules.Protection(
                clock=self.clock,
                freezes_held=self.freezes_held,
                pause=self.pause,
                settings_changed_at=self.settings_changed_at,
                last_checkin_at=self.last_checkin_at,
            ),
            **{name: getattr(self, name) for name in rules.STATE_FIELDS},
        )

    def assign(self, values: rules.State) -> None:
        for name in rules.STATE_FIELDS:
            setattr(self, name, getattr(values, name))
        self.last_checkin_day = values.last_checkin_day

    @property
    def clock(self) -> rules.DayClock:
        return rules.DayClock(tz=zone(self.timezone), day_start_hour=self.day_start_hour)

    @property
    def pause(self) -> rules.Pause | None:
        if self.pause_start_day is None or self.pause_end_day is None:
            return None
        return rules.Pause(start_day=self.pause_start_day, end_day=self.pause_end_day)


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a stored zone name (validated on the way in)."""
    return ZoneInfo(name)


class StreakPause(models.Model):
    """A pause (vacation) of a user's streak over local days [start_day, end_day]."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pauses")
    start_day = models.DateField()
    end_day = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "streak pause"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_day__gte=F("start_day")), name="progression_streakpause_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["user", "start_day"], name="progression_streakpause_one_per_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} paused {self.start_day}..{self.end_day}"


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
