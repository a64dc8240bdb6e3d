"""The per-export page's schedule form; what it saves is checked by Schedule.clean (timing.validate), as the
admin's is, so both refuse the same things in the same words."""

from __future__ import annotations

from typing import Any

from django import forms

from webadmit_dash.schedules.models import Schedule


class ScheduleForm(forms.ModelForm[Schedule]):
    class Meta:
        model = Schedule
        fields = ["kind", "times", "cron", "enabled"]
        widgets = {
            "kind": forms.RadioSelect,
            "times": forms.TextInput(attrs={"placeholder": "06:00, 13:00", "autocomplete": "off"}),
            "cron": forms.TextInput(attrs={"placeholder": "0 6 * * 1-5", "autocomplete": "off", "spellcheck": "false"}),
        }
        labels = {"kind": "Runs", "times": "At (24-hour, in the institution's time zone)", "cron": "Cron expression"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["enabled"].help_text = "Untick to stop this schedule without losing it."
