"""The seeded tool catalog (the freeze's price and limit come from settings.ENGAGEMENT)."""

from django.conf import settings

SEEDED_TOOLS = [
    {
        "slug": "coffee",
        "name": "Coffee",
        "description": "A quick boost of energy.",
        "price": 10,
        "energy_delta": 15,
        "fatigue_delta": 2,
        "loyalty_delta": 0,
    },
    {
        "slug": "rest",
        "name": "Rest Kit",
        "description": "Shake off some fatigue.",
        "price": 16,
        "energy_delta": 0,
        "fatigue_delta": -15,
        "loyalty_delta": 0,
    },
    {
        "slug": "focus",
        "name": "Focus Chip",
        "description": "A little energy and a little loyalty.",
        "price": 20,
        "energy_delta": 5,
        "fatigue_delta": 0,
        "loyalty_delta": 5,
    },
    {
        "slug": "freeze",
        "name": "Streak Freeze",
        "description": "Covers one missed day of your streak; used at your next check-in.",
        "price": settings.ENGAGEMENT["FREEZE_PRICE"],
        "energy_delta": 0,
        "fatigue_delta": 0,
        "loyalty_delta": 0,
        "kind": "streak_freeze",
        "max_held": settings.ENGAGEMENT["FREEZE_MAX_HELD"],
    },
]
