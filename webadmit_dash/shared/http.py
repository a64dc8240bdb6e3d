"""The signed-in request every view is typed with, and sign-in for htmx."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def login_required_htmx(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """`login_required`, except that an htmx request from a signed-out browser is sent to the sign-in page.

    htmx follows a plain 302 inside its XMLHttpRequest and would swap the sign-in form into the table; an
    HX-Redirect navigates the whole tab there instead, coming back to the page the user was on.
    """
    protected = login_required(view)

    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.htmx and not request.user.is_authenticated:
            return sign_in_again(request)
        return protected(request, *args, **kwargs)

    return wrapper


def sign_in_again(request: AuthenticatedHttpRequest) -> HttpResponse:
    back_to = request.htmx.current_url_abs_path or reverse("recent_files")
    return HttpResponseClientRedirect(redirect_to_login(back_to).url)
