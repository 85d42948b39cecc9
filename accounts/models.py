"""The user: UUID primary key, email as the login (unique in every spelling, and lookalikes too)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.emails import canonical_email, lookalike_key
from engagement.db import fetch_by


def normalize_email(email: str) -> str:
    """The stored form of an address (accounts.emails.canonical_email)."""
    return canonical_email(email)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        """The user with this email (any letter case), or DoesNotExist: every login's lookup.

        Emails are stored lower-cased, so the plain unique index serves it; a pre-built
        statement (engagement.db.fetch_by) rather than a compiled query, as authentication does.
        """
        user = fetch_by(self.model, "email", normalize_email(email), using=self.db)
        if user is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query does not exist.")
        return user

    def create_user(self, email, password=None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    # The address's skeleton (accounts.emails.lookalike_key), set on save: an address that only
    # looks like an existing one cannot be stored. Null only for rows from before it existed
    # whose skeleton an earlier account already had (the migration reports them).
    email_key = models.CharField(max_length=512, unique=True, null=True, editable=False)
    display_name = models.CharField(max_length=64, blank=True, default="")
    # False hides the user from every leaderboard and from others' ranks (PATCH me/); the
    # leaderboards app copies it onto the user's score rows (leaderboards.services).
    leaderboard_visible = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised by every revocation of the user's sessions (password change or reset, logout from
    # everywhere); a token carries the value it was issued under (accounts.tokens), and
    # authentication refuses any other. The user row is read on every request anyway.
    token_version = models.PositiveIntegerField(
        default=0, editable=False, help_text="Tokens issued before the last revocation carry a lower value."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            # Emails are lower-cased on save; this also holds for rows written around save().
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        self.email_key = lookalike_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_key"}
        super().save(*args, **kwargs)
