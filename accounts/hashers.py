"""The password hasher: Argon2id at OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).

Django's own Argon2PasswordHasher uses m = 100 MiB and 8 lanes per hash: about 9
registrations a second on the 2-core machine the bench runs on, and 100 MiB of memory per
login in flight. OWASP's password storage cheat sheet sets the minimum for Argon2id at
m = 19 MiB (19,456 KiB), t = 2, p = 1; that is what this hasher uses. Its algorithm name is
Django's ("argon2"), so a hash stored with other parameters (Django's defaults, say) still
verifies, and `must_update` (the parameters differ) makes Django re-hash the password with
these ones on the next successful login (`User.check_password` saves it).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class OWASPArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id, m = 19,456 KiB, t = 2, p = 1 (OWASP's minimum)."""

    memory_cost = 19456  # KiB
    time_cost = 2
    parallelism = 1
