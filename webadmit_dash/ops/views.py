"""/healthz, /readyz and /metrics: for the load balancer, the orchestrator and Prometheus, not for people.

Routed by OpsEndpointsMiddleware, ahead of host validation and the https redirect (see there why).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from webadmit_dash.ops import health, metrics

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers requests. Touches nothing else, so a database outage does not get every web
    process restarted."""
    return JsonResponse({"status": "alive"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when every check passes, else 503 with the failing checks named."""
    report = health.readiness()
    response = JsonResponse(report.as_dict(), status=200 if report.ready else 503)
    if not report.ready:
        # One line naming what fails, instead of Django's "Service Unavailable" at ERROR for every probe.
        logger.warning("Not ready: %s", ", ".join(report.failing))
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics.scrape_allowed(request):
        return HttpResponse(
            "Metrics are only for the addresses in METRICS_ALLOWED_IPS or a scraper sending METRICS_TOKEN.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
