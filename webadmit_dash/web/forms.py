"""The forms staff fill in: their preferences."""

from __future__ import annotations

from functools import cache
from typing import cast
from zoneinfo import available_timezones

from django import forms
from django.conf import settings

from webadmit_dash.core.models import UserPreference


@cache
def _time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))
    return [(zone, zone.replace("_", " ")) for zone in ["UTC", *zones]]


class PreferencesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(required=False, label="Time zone")

    class Meta:
        model = UserPreference
        fields = ["time_zone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        institution = f"The institution's zone ({settings.TIME_ZONE.replace('_', ' ')})"
        cast(forms.ChoiceField, self.fields["time_zone"]).choices = [("", institution), *_time_zone_choices()]
        self.fields["time_zone"].help_text = "Times on every page are shown in this zone; hover a time to see it."
