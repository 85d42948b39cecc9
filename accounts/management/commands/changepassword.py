"""`manage.py changepassword`: Django's command, which then ends every session of the user.

A password changed through the API ends the user's sessions (accounts.services.change_password);
an operator changing it from the command line expects the same: every access and refresh token
issued before the change stops working. accounts is listed before django.contrib.auth in
INSTALLED_APPS so that this command is the one `manage.py changepassword` runs.
"""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import changepassword
from django.db import transaction

from accounts.services import revoke_sessions


class Command(changepassword.Command):
    help = "Change a user's password, then end every session of the user (their tokens stop working)."

    def handle(self, *args, **options):
        # Django's command finds the user, asks twice, validates and saves; the new password and
        # the revocation commit together, as accounts.services.set_password commits them.
        with transaction.atomic(using=options["database"]):
            message = super().handle(*args, **options)  # CommandError: nothing was changed
            username = options["username"] or getpass.getuser()
            manager = get_user_model()._default_manager.db_manager(options["database"])
            user = manager.get_by_natural_key(username)
            revoked = revoke_sessions(user=user)
        return f"{message}\nEvery session of {user} ended ({revoked} refresh token(s) revoked)."
