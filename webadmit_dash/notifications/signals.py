"""What the notifications app tells the layers above it (operations' metrics), without importing them.

`delivery_recorded` is sent once per delivery attempt whose outcome this sender recorded (it still held the lease):
`channel` is "email" or "webhook", `outcome` one of OUTCOMES. A sender that lost its lease records nothing, so a
receiver that counts never counts one attempt twice.
"""

from __future__ import annotations

from django.dispatch import Signal

from webadmit_dash.notifications.models import Delivery

RETRYING = "retrying"  # a transient error: the delivery stays pending, due again after its backoff
# The final states a sender records, and the retry between them.
OUTCOMES = (Delivery.State.SENT.value, RETRYING, Delivery.State.FAILED.value, Delivery.State.CANCELLED.value)

delivery_recorded = Signal()
