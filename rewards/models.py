"""Reward definitions (admin-managed data) and each user's unlocked/claimed rewards."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from inventory.models import delta_range


class Condition(models.TextChoices):
    STREAK = "streak", "Streak reaches"
    TOTAL_CHECKINS = "total_checkins", "Total check-ins reach"
    LEVEL = "level", "Level reaches"


class RewardDefinition(models.Model):
    slug = models.SlugField(max_length=50, primary_key=True)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    condition = models.CharField(max_length=16, choices=Condition.choices)
    threshold = models.IntegerField()
    energy_delta = models.IntegerField(default=0)
    fatigue_delta = models.IntegerField(default=0)
    loyalty_delta = models.IntegerField(default=0)
    grant_tool = models.ForeignKey(
        "inventory.ToolDefinition", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    grant_quantity = models.IntegerField(default=1)
    auto_claim = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "reward"
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=1), name="rewards_rewarddefinition_threshold_min"
            ),
            models.CheckConstraint(
                condition=Q(condition__in=Condition.values), name="rewards_rewarddefinition_condition_valid"
            ),
            models.CheckConstraint(
                condition=Q(grant_quantity__gte=1, grant_quantity__lte=100),
                name="rewards_rewarddefinition_grant_quantity_range",
            ),
            delta_range("energy_delta", "rewards_rewarddefinition"),
            delta_range("fatigue_delta", "rewards_rewarddefinition"),
            delta_range("loyalty_delta", "rewards_rewarddefinition"),
        ]

    def __str__(self) -> str:
        return self.title


class UserReward(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rewards")
    reward = models.ForeignKey(RewardDefinition, on_delete=models.PROTECT, related_name="user_rewards")
    unlocked_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reward_id"]
        verbose_name = "user reward"
        constraints = [
            models.UniqueConstraint(fields=["user", "reward"], name="rewards_userreward_once_per_user"),
            models.CheckConstraint(
                condition=Q(claimed_at__isnull=True) | Q(claimed_at__gte=F("unlocked_at")),
                name="rewards_userreward_claimed_after_unlocked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id} for {self.user_id}"

    @property
    def status(self) -> str:
        return "claimed" if self.claimed_at else "unlocked"
