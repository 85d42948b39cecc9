"""The daily rollup behind the admin's engagement overview: one counter per (metric, day, subgroup, shard).

The after-change consumer (analytics.services.roll_up_after_change) adds to these counters in
the change's own transaction, so the overview reads a few hundred small rows instead of the
ledger. `manage.py rebuild_rollups` recomputes the ledger-derived metrics from the ledger.
"""

from __future__ import annotations

from django.db import models

from analytics.rules import SHARDS


class DailyCount(models.Model):
    id = models.BigAutoField(primary_key=True)
    metric = models.CharField(max_length=32)
    day = models.DateField()
    subgroup = models.CharField(max_length=64, blank=True, default="")
    shard = models.SmallIntegerField(default=0)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "daily count"
        constraints = [
            # Also the index every read uses: metric first, then a range of days.
            models.UniqueConstraint(
                fields=["metric", "day", "subgroup", "shard"], name="analytics_dailycount_one_row_per_key"
            ),
            models.CheckConstraint(
                condition=models.Q(shard__gte=0, shard__lt=SHARDS), name="analytics_dailycount_shard_range"
            ),
            models.CheckConstraint(
                condition=models.Q(value__gte=0), name="analytics_dailycount_value_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.subgroup}] on {self.day}: {self.value}"
