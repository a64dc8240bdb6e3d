"""Where a first ("cold") refresh spends its CPU: one identity's first listing of 100 files, step by step.

    .venv/bin/python -m benchmarks.cold_refresh [--refreshes 100] [--files 100]

The refresh benchmark's first sweep is this, a thousand times over, on two workers; this one runs the same
`refresh_identity` in this process against the bundled simulator (in a thread of its own) and times each step with
the *thread's* CPU clock, so the simulator's work and waits on the network are left out. Each step's figure
includes the steps it calls (the apply step includes `supersede` and the inserts). Throwaway SQLite database in a
temporary DATA_DIR. A few refreshes run first, untimed, so imports and caches are warm.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks._django import setup_throwaway_django

API_KEY = "0123456789abcdef0123456789abcdef"
WARM_UP = 10


def _timed(spent: dict[str, float], module: ModuleType, name: str) -> None:
    """Replaces module.name with a wrapper that adds its thread CPU time to spent[label]."""
    function: Callable[..., Any] = getattr(module, name)
    label = f"{module.__name__.removeprefix('webadmit_dash.')}.{name}"

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - started

    setattr(module, name, wrapper)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=100, help="cold refreshes timed (each a new identity)")
    parser.add_argument("--files", type=int, default=100, help="files per identity")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="webadmit-bench-") as folder:
        setup_throwaway_django(Path(folder))
        from django.core.management import call_command

        from webadmit_dash.core.models import Credential, UserIdentity
        from webadmit_dash.engine import apply, credentials, first_sight, refresh
        from webadmit_dash.simulator.data import SimulatedWorld
        from webadmit_dash.simulator.server import SimulatorServer

        call_command("migrate", interactive=False, verbosity=0)
        spent: dict[str, float] = defaultdict(float)
        steps = [
            (refresh, "refresh_identity"),
            (refresh, "_fetch"),
            (refresh, "_record_success"),
            (apply, "plan_listing"),
            (apply, "apply_plan"),
            (apply, "supersede"),
            (first_sight, "insert"),
            (apply, "apply_exports"),
        ]
        for module, name in steps:
            _timed(spent, module, name)  # a step renamed or gone fails here: rename it above too

        identities = WARM_UP + args.refreshes
        world = SimulatedWorld(
            seed=1, identities=identities, files_per_identity=args.files, pace=86_400, new_run_every=None
        )
        with SimulatorServer(world, [API_KEY]) as server:
            credential = Credential(name="Cold refreshes", base_url=server.base_url, rate_limit_per_hour=1_000_000)
            credential.set_api_key(API_KEY)
            credential.save()
            credentials.import_identities(credential)
            ids = list(UserIdentity.objects.order_by("pk").values_list("pk", flat=True))
            for pk in ids[:WARM_UP]:
                refresh.refresh_identity(pk)
            spent.clear()
            for pk in ids[WARM_UP:]:
                refresh.refresh_identity(pk)

    print(
        f"\nCold refresh, CPU of this thread per refresh ({args.refreshes} refreshes, {args.files} new files each, "
        "SQLite; a step includes the steps it calls):\n"
    )
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {label:<40} {seconds * 1000 / args.refreshes:6.1f} ms")


if __name__ == "__main__":
    main()
