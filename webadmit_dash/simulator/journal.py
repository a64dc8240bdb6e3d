"""The simulator's memory across restarts (`--state-file`, which `make run` keeps in DATA_DIR).

A world is drawn from its seed. Before the journal, a restarted simulator rebuilt its world at the current time: the
same file ids with their lifecycles begun again. The dashboard then saw finished files go back to Initializing and
mailed a false "Stuck". The journal keeps the one thing a seed cannot redraw, which is when the world began, how much
world time has passed, and the runs and PDF Manager batches started through the API, so a restarted world resumes
where it stopped. (A journal written before batches were kept has none: it is read as a world that started none.)

The time the simulator was stopped does not count: a stack stopped overnight does not come back to a night's worth
of new runs at once. World time is saved every SAVE_EVERY seconds and on a clean stop. A world resumes SAVE_EVERY
seconds after the time it saved last, so after a kill it never goes back before a status the dashboard has
already read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .data import SimulatedWorld, StartedRun
from .pdf_manager import StartedBatch

logger = logging.getLogger(__name__)

SAVE_EVERY = 10.0
# The options that decide what a world is: a journal written under others describes another world.
SHAPE = ("seed", "identities", "files_per_identity", "pace", "new_run_every", "retention_days", "initial")


@dataclass(frozen=True)
class Resumed:
    epoch: float
    world_time: float
    runs: list[StartedRun]
    batches: list[StartedBatch]


@dataclass(frozen=True)
class Journal:
    path: Path
    shape: dict[str, Any]

    @classmethod
    def for_options(cls, options: dict[str, Any]) -> Journal | None:
        state_file = options.get("state_file")
        if not state_file:
            return None
        shape = {name: options[name] for name in SHAPE}
        if options.get("hostile_names"):
            # Only when set, so the journals written before this option existed still describe their world.
            shape["hostile_names"] = True
        return cls(Path(state_file), shape)

    def resume(self) -> Resumed | None:
        """Where the world described here stopped, or None for a new world (no file, an unreadable one, or one
        written for other options, which is then replaced at the first save)."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if saved.get("shape") != self.shape:
                logger.warning("%s describes a world of other options; starting a new one", self.path)
                return None
            return Resumed(
                float(saved["epoch"]),
                float(saved["world_time"]) + SAVE_EVERY,
                [StartedRun(**run) for run in saved["runs"]],
                [StartedBatch(**batch) for batch in saved.get("batches", [])],
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("%s could not be read (%s); starting a new world", self.path, error)
            return None

    def save(self, world: SimulatedWorld) -> None:
        """Writes the whole state at once (a new file renamed over the old), so a kill never leaves half of it."""
        world_time, runs = world.started_within_retention()
        state = {"shape": self.shape, "epoch": world.created_at, "world_time": world_time}
        state["runs"] = [asdict(run) for run in runs]
        state["batches"] = [asdict(batch) for batch in world.pdf_manager.started_within_retention()]
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.path)

    def keep_saving(self, world: SimulatedWorld) -> threading.Event:
        """Saves every SAVE_EVERY seconds from a daemon thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(SAVE_EVERY):
                try:
                    self.save(world)
                except OSError as error:
                    logger.warning("Could not save the simulator's state to %s: %s", self.path, error)

        threading.Thread(target=loop, name="simulator-journal", daemon=True).start()
        return stop
