"""The seeded leaderboards."""

SEEDED_BOARDS = [
    {
        "slug": "weekly_loyalty",
        "title": "Loyalty this week",
        "metric": "loyalty_earned",
        "period": "week",
        "prize_loyalty": 50,
        "prize_ranks": 3,
        "is_active": True,
    },
    {
        "slug": "monthly_checkins",
        "title": "Check-ins this month",
        "metric": "check_ins",
        "period": "month",
        "prize_loyalty": 0,
        "prize_ranks": 0,
        "is_active": True,
    },
    {
        "slug": "best_streak",
        "title": "Best streak ever",
        "metric": "best_streak",
        "period": "all_time",
        "prize_loyalty": 0,
        "prize_ranks": 0,
        "is_active": True,
    },
]
