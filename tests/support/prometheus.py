"""Reading /metrics in tests: Prometheus text as a flat map of (sample name, labels) to value."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when it is absent (a counter before its first increment)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
