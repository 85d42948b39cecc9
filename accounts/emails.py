"""Email addresses as accounts stores, compares and accepts them.

- canonical_email(): the stored form, and the key of every lookup (login, the account's
  failed-login window). NFKC (fullwidth and styled letters become plain ones), "İ" read as
  "i" (lower-casing it otherwise leaves "i" plus a combining dot), lower case, the domain in
  IDNA A-labels ("exämple.com" and "xn--exmple-cua.com" are one domain). Never raises.
- clean_new_email(): canonical_email() for an address being registered, refusing what only
  serves to imitate another address: invisible or formatting characters (zero-width space,
  direction marks, fillers), a combining mark left on a plain ASCII letter, and a domain label
  that mixes scripts with characters confusable across them (Unicode TS #39 via the
  confusable_homoglyphs validator, as django-registration uses), such as a Cyrillic "a"
  (U+0430) in "example.com".
- lookalike_key(): a TS #39-style skeleton kept in User.email_key under a unique constraint,
  so an address that merely looks like an existing one cannot register (409 email_taken):
  each non-ASCII character that Unicode's confusables list maps to a prototype is replaced
  by it (dotless i U+0131 -> "i", Cyrillic o U+043E -> "o"), on the Unicode form of the domain. ASCII
  characters are kept as they are, so two different plain-ASCII addresses never collide
  ("bill1" and "billl" stay distinct accounts).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import unicodedata
from pathlib import Path

import confusable_homoglyphs
import idna
from django.core.exceptions import ValidationError

_DIRECTION_MARKS = "\u200e\u200f"  # the confusables data wraps right-to-left characters in them
# Invisible characters whose general category is not a format, control or separator one.
_INVISIBLE = frozenset(
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f"  # grapheme joiner, Khmer and Mongolian marks
    "\u2800"  # Braille blank
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
_MARKS = frozenset({"Mn", "Mc", "Me"})


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", (value or "").strip()).replace("İ", "i").lower()


def _ascii_domain(domain: str) -> str:
    """The domain in A-labels; IDNA errors raise idna.IDNAError (or UnicodeError)."""
    if domain.isascii():
        return domain
    return idna.encode(domain, uts46=True).decode("ascii")


def _unicode_domain(domain: str) -> str:
    """The domain in U-labels, label by label (a label that does not decode stays as it is)."""
    labels = []
    for label in domain.split("."):
        decoded = label
        if label.startswith("xn--"):
            with contextlib.suppress(idna.IDNAError, UnicodeError):
                decoded = idna.decode(label)
        labels.append(decoded)
    return ".".join(labels)


def canonical_email(value: str) -> str:
    """The stored and compared form of an address (see the module docstring); never raises."""
    email = _fold(value)
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    # Not a valid domain: kept as typed, and nothing registered can match it.
    with contextlib.suppress(idna.IDNAError, UnicodeError):
        domain = _ascii_domain(domain)
    return f"{local}@{domain}"


def _is_invisible(char: str) -> bool:
    if char == " ":
        return False  # a plain space: the email validator refuses it with its usual message
    return char in _INVISIBLE or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def _mark_on_ascii(text: str) -> bool:
    """A combining mark that NFC could not merge into a preceding plain ASCII letter."""
    text = unicodedata.normalize("NFC", text)
    return any(
        unicodedata.category(char) in _MARKS and previous.isascii()
        for previous, char in itertools.pairwise(text)
    )


def clean_new_email(value: str) -> str:
    """canonical_email() of an address to register, or ValidationError saying what imitates."""
    # Imported on first use: it reads its 2 MB data file on import (~0.1 s at every start).
    from confusable_homoglyphs import confusables

    if any(_is_invisible(char) for char in value.strip()):
        raise ValidationError(
            "The address contains invisible or formatting characters.", code="invisible_characters"
        )
    email = _fold(value)
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError("Enter a valid email address.", code="invalid")
    unicode_domain = _unicode_domain(domain)
    for part in (local, *unicode_domain.split(".")):
        if _mark_on_ascii(part):
            raise ValidationError(
                "The address puts an accent on a plain letter where no accented letter exists.",
                code="confusable",
            )
        if confusables.is_dangerous(part):
            raise ValidationError(
                "The address mixes scripts in a way that can imitate another address.", code="confusable"
            )
    try:
        ascii_domain = _ascii_domain(unicode_domain)
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValidationError(
            "The domain is not a valid internationalized domain name.", code="invalid"
        ) from exc
    return f"{local}@{ascii_domain}"


@functools.cache
def _prototypes() -> dict[str, str]:
    """Non-ASCII character -> the prototype Unicode's confusables.txt maps it to.

    confusable_homoglyphs ships confusables.txt as pairs listed both ways (each character with
    the characters it is confusable with); the direction is recovered from the shape of the
    data: a prototype is a multi-character or ASCII string, or one that several characters map
    to, while a mapped character has exactly one partner. The rare isolated pair of two
    non-ASCII characters maps both to the smaller one (equal keys are all that matter).
    """
    path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    partners = {
        key.strip(_DIRECTION_MARKS): [entry["c"].strip(_DIRECTION_MARKS) for entry in entries]
        for key, entries in raw.items()
    }
    mapping = {}
    for char, found in partners.items():
        if len(char) != 1 or char.isascii() or len(found) != 1:
            continue
        (target,) = found
        if len(target) > 1 or target.isascii() or len(partners.get(target, ())) > 1:
            mapping[char] = target
        else:
            mapping[char] = min(char, target)
    return mapping


def lookalike_key(email: str) -> str:
    """The skeleton two addresses share when one can pass for the other (see the module docstring)."""
    local, _, domain = canonical_email(email).rpartition("@")
    text = unicodedata.normalize("NFD", f"{local}@{_unicode_domain(domain)}")
    prototypes = _prototypes()
    return unicodedata.normalize("NFC", "".join(prototypes.get(char, char) for char in text)).lower()
