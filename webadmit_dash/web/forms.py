"""The forms staff fill in: their preferences, and their password."""

from __future__ import annotations

from functools import cache
from typing import Any, cast
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from webadmit_dash.core.models import UserPreference


@cache
def _time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))
    return [(zone, zone.replace("_", " ")) for zone in ["UTC", *zones]]


class PreferencesForm(forms.ModelForm[UserPreference]):
    time_zone = forms.ChoiceField(required=False, label="Time zone")

    class Meta:
        model = UserPreference
        fields = ["time_zone", "absolute_times"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        institution = f"The institution's zone ({settings.TIME_ZONE.replace('_', ' ')})"
        cast(forms.ChoiceField, self.fields["time_zone"]).choices = [("", institution), *_time_zone_choices()]
        self.fields["time_zone"].help_text = "Times on every page are shown in this zone; hover a time to see it."
        clock_only = self.fields["absolute_times"]
        clock_only.help_text = "Times read “Tue 09:42” rather than “Tue 09:42 · 3 h ago” or “3 h ago”, on every page."


class LockoutCountedPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked the way a sign-in is.

    Django checks the old password with `check_password`, which django-axes never sees: the form was a way to
    guess a signed-in person's password without limit (and from a stolen session, to learn it). Going through
    `authenticate` counts each wrong old password towards the same lockout as the sign-in forms (same user name,
    same address) and refuses even the right one while it lasts; AxesMiddleware then answers with the lockout page.
    """

    def __init__(self, user: User, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
