"""The seeded rewards."""

SEEDED_REWARDS = [
    {
        "slug": "streak_3",
        "title": "Three in a row",
        "description": "Check in three days in a row.",
        "condition": "streak",
        "threshold": 3,
        "loyalty_delta": 10,
        "auto_claim": False,
    },
    {
        "slug": "streak_7",
        "title": "A whole week",
        "description": "Check in seven days in a row; paid out automatically.",
        "condition": "streak",
        "threshold": 7,
        "loyalty_delta": 25,
        "auto_claim": True,
    },
    {
        "slug": "checkins_10",
        "title": "Ten check-ins",
        "description": "Check in ten times; earns a Rest Kit.",
        "condition": "total_checkins",
        "threshold": 10,
        "grant_tool_id": "rest",
        "grant_quantity": 1,
        "auto_claim": False,
    },
]
