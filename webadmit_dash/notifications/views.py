"""/notifications/: each user's own subscriptions (list, add, edit, delete), and the one-click unsubscribe that
works without signing in (its signed token is the authority)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from webadmit_dash.core.mail import files_folder
from webadmit_dash.notifications import messages as mail
from webadmit_dash.notifications.forms import SubscriptionForm
from webadmit_dash.notifications.models import Delivery, Subscription
from webadmit_dash.shared.http import AuthenticatedHttpRequest

MAX_ID = 2**63 - 1  # ids are signed 64-bit columns: anything larger names nothing
RECENT_SHOWN = 10


def _subscription_for_user(user: User, pk: int) -> Subscription:
    """The user's own subscription; someone else's, or none, is not found (ids cannot be probed)."""
    subscription = Subscription.objects.filter(pk=pk, user=user).first() if 0 < pk <= MAX_ID else None
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


def _page_context(request: AuthenticatedHttpRequest, form: SubscriptionForm) -> dict[str, object]:
    subscriptions = list(
        Subscription.objects.filter(user=request.user).prefetch_related("identities", "webhooks").order_by("pk")
    )
    recent = list(
        Delivery.objects.filter(user=request.user)
        .select_related("event", "webhook")
        .order_by("-created_at", "-pk")[:RECENT_SHOWN]
    )
    return {
        "form": form,
        "subscriptions": subscriptions,
        "recent": recent,
        "now": timezone.now(),
        # Without a mail server, "Sent" would claim an e-mail left this machine: the page says where it went.
        "mail_files_folder": files_folder(),
    }


@require_http_methods(["GET", "POST"])
@login_required
def page(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Subscription saved. You will hear about the next matching event.")
        return redirect("notifications:page")
    status = 400 if form.is_bound else 200
    return render(request, "notifications/page.html", _page_context(request, form), status=status)


@require_http_methods(["GET", "POST"])
@login_required
def edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription_for_user(request.user, pk)
    form = SubscriptionForm(request.POST or None, instance=subscription, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Subscription updated.")
        return redirect("notifications:page")
    return render(
        request,
        "notifications/edit.html",
        {"form": form, "subscription": subscription},
        status=400 if form.is_bound else 200,
    )


@require_POST
@login_required
def delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _subscription_for_user(request.user, pk).delete()
    messages.success(request, "Subscription deleted. Messages it had queued will not be sent.")
    return redirect("notifications:page")


@csrf_exempt  # the signed token is what authorises this, and mail clients POST it with no cookie (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows one button (mail scanners follow links: a GET must change nothing); POST, from that button or
    from a mail client's one-click unsubscribe (List-Unsubscribe-Post), turns the e-mails off."""
    found = mail.read_unsubscribe_token(token)
    if found is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    user_id, subscription_ids = found
    subscriptions = Subscription.objects.filter(user_id=user_id, pk__in=[pk for pk in subscription_ids if pk <= MAX_ID])
    done = False
    if request.method == "POST":
        subscriptions.filter(email=True).update(email=False, email_unsubscribed_at=timezone.now())
        done = True
    context = {"done": done, "count": subscriptions.count(), "still_on": subscriptions.filter(email=True).count()}
    return render(request, "notifications/unsubscribe.html", context)
