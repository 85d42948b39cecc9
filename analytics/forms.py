"""The overview's date range: a GET form, validated (start <= end <= today, at most a year)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from analytics.overview import Period

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)

    def __init__(self, data=None, *, today: date):
        default = self.default_period(today)
        super().__init__(data, initial={"start": default.start, "end": default.end})
        self.today = today
        self.fields["start"].widget.attrs["max"] = today.isoformat()
        self.fields["end"].widget.attrs["max"] = today.isoformat()

    def clean(self):
        cleaned = super().clean() or {}
        end = cleaned.get("end") or self.today
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if self.errors:
            return cleaned
        if end > self.today:
            self.add_error("end", f"The period cannot end after today ({self.today.isoformat()}).")
        elif start > end:
            self.add_error("start", "The period must start on or before its last day.")
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("start", f"The period can be at most {MAX_DAYS} days long.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def period(self) -> Period:
        """The validated period (call after is_valid())."""
        return Period(start=self.cleaned_data["start"], end=self.cleaned_data["end"], today=self.today)

    @classmethod
    def default_period(cls, today: date) -> Period:
        return Period(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today, today=today)
