"""The schedules' pages: one export's page (its schedules in words, the next run, the last runs started here and
whether WebAdMIT called back, and a form to add or change a schedule) and the Schedules page (every schedule the
user may see). They live here, not in `web`, because they read only this app and core; `web` links to them by URL
name, which needs no import either way."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from webadmit_dash.core import access
from webadmit_dash.core.models import Export, Kind, RunRequest
from webadmit_dash.schedules import history, state, timing
from webadmit_dash.schedules.forms import ScheduleForm
from webadmit_dash.schedules.models import Expectation, Schedule, ScheduledRun
from webadmit_dash.shared.http import AuthenticatedHttpRequest

MAX_PK = 2**63 - 1
RUNS_SHOWN = 15


def _get_export_for_user(user: User, pk: int) -> Export:
    """The export, when the user may see its identity; a 404 otherwise, as for files (whether it exists is not
    told). Whoever may see an identity may run its exports (Run again), so may schedule them too."""
    if not 0 < pk <= MAX_PK:
        raise Http404("No such export.")
    export = (
        Export.objects.filter(pk=pk, identity__in=access.visible_identities(user))
        .select_related("identity__credential")
        .first()
    )
    if export is None:
        raise Http404("No such export.")
    return export


def _schedule_of(export: Export, raw: str | None) -> Schedule | None:
    """The schedule a form is about (`?edit=` or the posted `schedule`), which must be this export's."""
    if not raw:
        return None
    try:
        pk = int(raw)
    except ValueError:
        raise Http404("No such schedule.") from None
    schedule = Schedule.objects.filter(pk=pk, export=export).first() if 0 < pk <= MAX_PK else None
    if schedule is None:
        raise Http404("No such schedule.")
    return schedule


@require_http_methods(["GET", "POST"])
@login_required
def export_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One export's history and schedules: its runs over time (schedules.history: how often they failed, how long
    they usually take, the last good run and who downloaded it), its schedules, the next run, the last runs started
    here (by whom or which schedule, and whether WebAdMIT called back), and the schedule form (add, or change with
    ?edit=<id>)."""
    export = _get_export_for_user(request.user, pk)
    source = request.POST if request.method == "POST" else request.GET
    editing = _schedule_of(export, source.get("schedule") or source.get("edit"))
    instance = editing or Schedule(export=export, created_by=request.user)
    form = ScheduleForm(request.POST if request.method == "POST" else None, instance=instance)
    if request.method == "POST" and form.is_valid():
        schedule = form.save()
        state = f"next run {timing.local_words(schedule.next_run_at)}" if schedule.next_run_at else "disabled"
        verb = "Changed" if editing else "Added"
        messages.success(request, f"{verb} the schedule: {timing.describe(schedule)} ({state}).")
        return redirect("schedules:export", pk=export.pk)
    return render(request, "schedules/export.html", _export_context(export, form, editing), status=_status(form))


def _status(form: ScheduleForm) -> int:
    return 400 if form.is_bound and form.errors else 200


def _export_context(export: Export, form: ScheduleForm, editing: Schedule | None) -> dict[str, Any]:
    identity = export.identity
    schedules = list(export.schedules.all())
    slots = list(
        ScheduledRun.objects.filter(schedule__export=export)
        .select_related("schedule", "run_request__run")
        .order_by("-slot")[:RUNS_SHOWN]
    )
    # Runs started here are export runs (E4): a PDF Manager template's page has none, whatever its id.
    requests = RunRequest.objects.filter(identity=identity, export_webadmit_id=export.webadmit_id)
    if export.kind != Kind.EXPORT:
        requests = requests.none()
    started = list(requests.select_related("user", "run").order_by("-created_at")[:RUNS_SHOWN])
    upcoming = [s.next_run_at for s in schedules if s.enabled and s.next_run_at]
    now = timezone.now()
    return {
        "export": export,
        "identity": identity,
        "schedules": schedules,
        "next_run": min(upcoming) if upcoming else None,
        "slots": slots,
        "started": started,
        "history": history.history(export, now),
        "form": form,
        "editing": editing,
        "zone": timing.zone().key,
        "now": now,
        "expectation_states": [state.expectation_state(each, now) for each in export.expectations.all()],
    }


@require_GET
@login_required
def schedules_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every schedule of an identity the user may see, with its state (words, next run, the last slot's outcome),
    and every expectation the watchdog judges for them, with its own (a few small queries each)."""
    visible = access.visible_identities(request.user)
    schedules = list(
        Schedule.objects.filter(export__identity__in=visible)
        .select_related("export__identity")
        .order_by("export__name", "pk")
    )
    expectations = Expectation.objects.filter(export__identity__in=visible).select_related("export__identity")
    now = timezone.now()
    context = {
        "schedules": schedules,
        "zone": timing.zone().key,
        "now": now,
        "expectation_states": [state.expectation_state(each, now) for each in expectations],
    }
    return render(request, "schedules/list.html", context)
