"""Leaderboard definitions, the scores of each (board, period, user), finalized results."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Metric(models.TextChoices):
    LOYALTY_EARNED = "loyalty_earned", "Loyalty earned"
    CHECK_INS = "check_ins", "Check-ins"
    BEST_STREAK = "best_streak", "Best streak"


class Period(models.TextChoices):
    WEEK = "week", "ISO week (UTC)"
    MONTH = "month", "Calendar month (UTC)"
    ALL_TIME = "all_time", "All time"


class LeaderboardDefinition(models.Model):
    """A board: what it counts (metric), over which periods, and the prize of each finished period."""

    slug = models.SlugField(max_length=64, primary_key=True)
    title = models.CharField(max_length=120)
    metric = models.CharField(max_length=32, choices=Metric.choices)
    period = models.CharField(max_length=16, choices=Period.choices)
    prize_loyalty = models.IntegerField(default=0, help_text="Loyalty paid to each rank 1..prize_ranks.")
    prize_ranks = models.IntegerField(default=0, help_text="How many top ranks of a finished period win.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "leaderboard"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(prize_loyalty__gte=0, prize_loyalty__lte=10_000),
                name="leaderboards_definition_prize_loyalty_range",
            ),
            models.CheckConstraint(
                condition=Q(prize_ranks__gte=0, prize_ranks__lte=100),
                name="leaderboards_definition_prize_ranks_range",
            ),
            models.CheckConstraint(
                condition=Q(prize_ranks=0) | ~Q(period="all_time"),
                name="leaderboards_definition_all_time_no_prize",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        from leaderboards.selectors import forget_active_boards

        forget_active_boards()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        from leaderboards.selectors import forget_active_boards

        forget_active_boards()
        return result


class LeaderboardEntry(models.Model):
    """One user's score on one board in one period; written by the after-change consumer.

    `visible` copies the user's leaderboard_visible, so a rank is a count over one index range.
    """

    id = models.BigAutoField(primary_key=True)
    board = models.ForeignKey(LeaderboardDefinition, on_delete=models.CASCADE, related_name="entries")
    period_start = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leaderboard_entries"
    )
    score = models.BigIntegerField()
    reached_at = models.DateTimeField(help_text="When the score was reached (earlier ranks ahead on a tie).")
    visible = models.BooleanField(default=True)

    class Meta:
        verbose_name = "leaderboard entry"
        verbose_name_plural = "leaderboard entries"
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period_start", "user"], name="leaderboards_entry_one_per_user_period"
            ),
            models.CheckConstraint(condition=Q(score__gte=0), name="leaderboards_entry_score_nonneg"),
        ]
        indexes = [
            # The ranking order: top pages read it forwards, a rank counts one range of it.
            models.Index(
                "board",
                "period_start",
                "visible",
                models.F("score").desc(),
                "reached_at",
                "user",
                name="leaderboards_entry_ranking",
            ),
            models.Index(fields=["user"], name="leaderboards_entry_user"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period_start}: {self.score}"


class LeaderboardFinalization(models.Model):
    """The mark that a board's period was finalized: written once, with its results and prizes."""

    board = models.ForeignKey(LeaderboardDefinition, on_delete=models.CASCADE, related_name="finalizations")
    period_start = models.DateField()
    period_end = models.DateField()
    entries = models.IntegerField(help_text="Visible entries when the period was finalized.")
    finalized_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "finalized period"
        constraints = [
            models.UniqueConstraint(fields=["board", "period_start"], name="leaderboards_finalization_once"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period_start}"


class LeaderboardResult(models.Model):
    """A snapshot row of a finished period's top ranks, and the prize it paid."""

    board = models.ForeignKey(LeaderboardDefinition, on_delete=models.CASCADE, related_name="results")
    period_start = models.DateField()
    rank = models.IntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leaderboard_results"
    )
    display_name = models.CharField(max_length=64)
    score = models.BigIntegerField()
    reached_at = models.DateTimeField()
    prize_loyalty = models.IntegerField(default=0)
    prize_event = models.ForeignKey(
        "progression.StateEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "leaderboard result"
        ordering = ["board", "-period_start", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period_start", "user"], name="leaderboards_result_user_once"
            ),
            models.UniqueConstraint(
                fields=["board", "period_start", "rank"], name="leaderboards_result_rank_once"
            ),
            models.CheckConstraint(condition=Q(rank__gte=1), name="leaderboards_result_rank_min"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} {self.period_start} #{self.rank}"
