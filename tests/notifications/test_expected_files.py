"""The watchdog's news: an expected file that did not come is told once to the subscribers who chose *Missing*,
and its late arrival once to those who chose *Arrived late*; over the real SMTP server."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from tests.support.factories import make_export, make_file, subscribe
from webadmit_dash.notifications import delivery, watch
from webadmit_dash.notifications.models import Event, EventKind
from webadmit_dash.schedules.models import Expectation, Missing

pytestmark = pytest.mark.django_db


def header(message, name: str) -> str:
    return " ".join(str(message[name]).split())


def _miss(identity) -> Missing:
    export = make_export(identity, 29_897)
    expectation = Expectation.objects.create(export=export, by_time=time(7, 0), days=Expectation.Days.DAILY)
    now = timezone.now()
    return Missing.objects.create(expectation=expectation, expected_by=now - timedelta(hours=1), detected_at=now)


def test_a_missing_file_is_told_once_and_its_late_arrival_once(identity, staff_granted, staff_none, mail_to_smtp):
    subscribe(staff_granted, events=[EventKind.MISSING, EventKind.ARRIVED_LATE])
    subscribe(staff_none, events=[EventKind.MISSING])  # sees no identity: hears nothing
    miss = _miss(identity)

    assert watch.watch().expected_files == 1
    assert watch.watch().expected_files == 0  # told: never twice
    delivery.deliver_due()
    [message] = mail_to_smtp.received()
    assert header(message, "To") == "bob@example.edu"
    assert header(message, "Subject").startswith("Missing: Nightly Banner Export")
    assert "nothing yet" in message.get_body(preferencelist=("plain",)).get_content()

    late = make_file(identity)
    Missing.objects.filter(pk=miss.pk).update(arrived=late, arrived_at=timezone.now())
    assert watch.watch().expected_files == 1
    delivery.deliver_due()
    arrival = mail_to_smtp.received()[-1]
    assert header(arrival, "Subject").startswith("Arrived late: Nightly Banner Export")
    assert f"/files/{late.pk}/" in arrival.get_body(preferencelist=("plain",)).get_content()
    assert Event.objects.filter(kind__in=[EventKind.MISSING, EventKind.ARRIVED_LATE]).count() == 2


def test_a_file_that_arrived_before_anyone_heard_it_was_missing_is_no_news(identity, staff_granted):
    subscribe(staff_granted, events=[EventKind.MISSING, EventKind.ARRIVED_LATE])
    miss = _miss(identity)
    Missing.objects.filter(pk=miss.pk).update(arrived=make_file(identity), arrived_at=timezone.now())

    assert watch.watch().expected_files == 0
    assert not Event.objects.filter(kind__in=[EventKind.MISSING, EventKind.ARRIVED_LATE]).exists()
