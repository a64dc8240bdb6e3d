"""The Preferences page: the user's own settings, such as the time zone the pages show times in; and the password
change it links to."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from webadmit_dash.core.models import UserPreference
from webadmit_dash.shared.http import AuthenticatedHttpRequest
from webadmit_dash.web.forms import LockoutCountedPasswordChangeForm, PreferencesForm
from webadmit_dash.web.signals import remember_time_style


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    preference = UserPreference.objects.filter(user=request.user).first() or UserPreference(user=request.user)
    form = PreferencesForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        remember_time_style(request, preference.time_zone, preference.absolute_times)
        messages.success(request, "Preferences saved.")
        return redirect("preferences")
    return render(request, "registration/preferences.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the old password counted by the sign-in lockout (LockoutCountedPasswordChangeForm)."""

    form_class = LockoutCountedPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}
