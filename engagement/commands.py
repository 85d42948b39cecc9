"""What the operator commands share: bad input exits 2, each problem named by its option."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.management.base import CommandError

from accounts.models import User, normalize_email

USAGE_ERROR = 2  # as argparse exits on a bad command line


class UsageError(CommandError):
    """Input the command refuses (a bad value, an unknown email or id): exit status 2."""

    def __init__(self, message: str):
        super().__init__(message, returncode=USAGE_ERROR)


def invalid_options(
    errors: Mapping[str, Iterable[object]], options: Mapping[str, str], default: str | None = None
) -> UsageError:
    """A form's or a ValidationError's field errors as one line, each under the option it came from:
    `options` maps a field to its option; any other field is `default`, else --<field>."""
    problems = "; ".join(
        f"{options.get(field, default or f'--{field}')}: {' '.join(str(e) for e in messages)}"
        for field, messages in errors.items()
    )
    return UsageError(problems)


def user_by_email(email: str) -> User:
    """The user an operator names by email (any letter case); a UsageError when there is none."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        raise UsageError(f"No user with email {email!r}.")
    return user
