"""Operator forms: the state adjustment (admin action and grant_loyalty), and constraint messages."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from progression.services import get_rules

# A guard against typos, not a business rule: more than a million points in one go is a slip.
MAX_LOYALTY_ADJUSTMENT = 1_000_000
NOTE_MAX_LENGTH = 255  # StateEvent.reference


class NoteForm(forms.Form):
    """The note of an operator's change, which the ledger event keeps as its reference."""

    note = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        help_text="Why: kept as the reference of the ledger event (required).",
    )


class RestoreStreakForm(NoteForm):
    """The note of an operator's streak restore (admin action and restore_streak)."""


class AdjustStateForm(NoteForm):
    """Exact deltas for progression.services.adjust_state, with the note the ledger keeps."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rules = get_rules()
        bounds = {
            "energy": rules.energy_max,
            "fatigue": rules.fatigue_max,
            "loyalty": MAX_LOYALTY_ADJUSTMENT,
        }
        for name, bound in bounds.items():
            self.fields[name] = forms.IntegerField(
                initial=0,
                min_value=-bound,
                max_value=bound,
                help_text="Signed change; the result is clamped to the field's bounds.",
            )
        self.order_fields(["energy", "fatigue", "loyalty", "note"])

    def clean(self):
        cleaned = super().clean() or {}
        deltas = [cleaned.get(name) for name in ("energy", "fatigue", "loyalty")]
        if all(delta is not None for delta in deltas) and not any(deltas):
            raise ValidationError("Give at least one non-zero change.", code="no_change")
        return cleaned


def _bounds_message(condition: object) -> tuple[str, str] | None:
    """(field, message) for a condition like Q(f__gte=a, f__lte=b) over one field and literals."""
    if not isinstance(condition, models.Q) or condition.negated or condition.connector != models.Q.AND:
        return None
    field, low, high = None, None, None
    for child in condition.children:
        if not isinstance(child, tuple):
            return None
        lookup, value = child
        name, _, op = lookup.rpartition("__")
        if op not in ("gte", "lte") or "__" in name or not isinstance(value, int):
            return None
        if field not in (None, name):
            return None
        field = name
        low, high = (value, high) if op == "gte" else (low, value)
    if field is None:
        return None
    if low is not None and high is not None:
        return field, f"Must be between {low} and {high}."
    if low is not None:
        return field, f"Must be at least {low}."
    return field, f"Must be at most {high}."


class ConstraintErrorsOnFieldsMixin(forms.ModelForm):
    """For ModelForms: show a CheckConstraint violation next to the field it bounds, in words.

    Django 5.2 checks the model's CheckConstraints in ModelForm._post_clean (full_clean ->
    Model.validate_constraints) and reports each as a form-wide "Constraint "name" is violated.".
    Where a constraint bounds one field with literal numbers, this moves the error onto that
    field with the range spelled out; a constraint named in `constraint_fields` (name -> field)
    moves onto that field with its own violation message; anything else stays form-wide.
    """

    constraint_fields: dict[str, str] = {}

    def _constraint_targets(self) -> dict[str, tuple[str, str]]:
        """Violation message -> (field, message to show there), for the constraints that move."""
        by_message: dict[str, tuple[str, str]] = {}
        for constraint in self._meta.model._meta.constraints:
            if not isinstance(constraint, models.CheckConstraint):
                continue
            target: tuple[str, str] | None
            if constraint.name in self.constraint_fields:
                message = str(constraint.get_violation_error_message())
                target = (self.constraint_fields[constraint.name], message)
            else:
                target = _bounds_message(constraint.condition)
            if target is not None and target[0] in self.fields:
                by_message[str(constraint.get_violation_error_message())] = target
        return by_message

    def _post_clean(self):
        super()._post_clean()  # type: ignore[misc]  # ModelForm's hook that validates constraints
        form_errors = self.errors.get(NON_FIELD_ERRORS)
        if not form_errors:
            return
        by_message = self._constraint_targets()
        kept: list[ValidationError] = []
        moved: list[tuple[str, str]] = []
        for error in form_errors.as_data():
            found = by_message.get(str(error.message))
            if found:
                moved.append(found)
            else:
                kept.append(error)
        if not moved:
            return
        if kept:
            self.errors[NON_FIELD_ERRORS] = self.error_class(
                kept, error_class="nonfield", renderer=self.renderer
            )
        else:
            del self.errors[NON_FIELD_ERRORS]
        for field, message in moved:
            self.add_error(field, ValidationError(message, code="constraint_violated"))
