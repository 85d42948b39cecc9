"""Signals other apps listen to, so accounts never imports them (dependencies point one way)."""

from django.dispatch import Signal

# Sent inside the registration transaction with sender=User, user=<User>.
user_registered = Signal()
