"""Leaderboards in the admin: definitions (CRUD, on/off) with the current top 20; past results read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from engagement.admin import set_active
from leaderboards import rules, selectors
from leaderboards.models import LeaderboardDefinition, LeaderboardFinalization, LeaderboardResult
from progression.admin import ReadOnlyAdminMixin, user_link
from progression.forms import ConstraintErrorsOnFieldsMixin

STANDINGS_SHOWN = 20


class LeaderboardDefinitionForm(ConstraintErrorsOnFieldsMixin, forms.ModelForm):
    constraint_fields = {"leaderboards_definition_all_time_no_prize": "prize_ranks"}

    class Meta:
        model = LeaderboardDefinition
        fields = ("slug", "title", "metric", "period", "prize_loyalty", "prize_ranks", "is_active")


@admin.register(LeaderboardDefinition)
class LeaderboardDefinitionAdmin(admin.ModelAdmin):
    form = LeaderboardDefinitionForm
    list_display = ("slug", "title", "metric", "period", "prize_loyalty", "prize_ranks", "is_active")
    list_display_links = ("slug", "title")
    list_filter = ("is_active", "metric", "period")
    search_fields = ("slug", "title")
    ordering = ("slug",)
    actions = ("activate", "deactivate")

    def get_readonly_fields(self, request, obj=None):
        # What a board counts and over which periods is fixed once it exists: its scores mean that.
        fixed = ("slug", "metric", "period") if obj is not None else ()
        return (*fixed, "current_standings")

    def get_fields(self, request, obj=None):
        fields = ["title", "slug", "metric", "period", "prize_loyalty", "prize_ranks", "is_active"]
        return [*fields, "current_standings"] if obj is not None else fields

    @admin.display(description=f"Current period: top {STANDINGS_SHOWN}")
    def current_standings(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        period = selectors.period_of(obj, which="current", today=rules.utc_day(timezone.now()))
        rows = selectors.standings(obj, period.start, offset=0, limit=STANDINGS_SHOWN)
        if not rows:
            return f"No scores since {period.start}."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.rank, user_link(r.user_id, r.display_name), r.score) for r in rows),
        )
        return format_html(
            "<p>Since {}</p><table><thead><tr><th>Rank</th><th>Player</th><th>Score</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            period.start,
            body,
        )

    @admin.action(description="Activate selected leaderboards")
    def activate(self, request, queryset):
        set_active(self, request, queryset, active=True, noun="leaderboard")
        selectors.forget_active_boards()

    @admin.action(description="Deactivate selected leaderboards")
    def deactivate(self, request, queryset):
        set_active(self, request, queryset, active=False, noun="leaderboard")
        selectors.forget_active_boards()


@admin.register(LeaderboardResult)
class LeaderboardResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("board", "period_start", "rank", "player", "score", "prize_loyalty", "prize_event")
    list_filter = ("board", "period_start")
    ordering = ("board", "-period_start", "rank")
    list_select_related = ("board",)

    @admin.display(description="Player")
    def player(self, obj):
        return user_link(obj.user_id, obj.display_name)


@admin.register(LeaderboardFinalization)
class LeaderboardFinalizationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("board", "period_start", "period_end", "entries", "finalized_at")
    list_filter = ("board",)
    ordering = ("-period_start", "board")
