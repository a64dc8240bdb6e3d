"""The simulator's control API for tests, over HTTP like any other client of it: faults, forced statuses, new runs,
PDF Manager's batches."""

from __future__ import annotations

from typing import Any

import requests

from webadmit_dash.simulator.server import SimulatorServer


class SimulatorControl:
    """The simulator's control API, over HTTP like any other client of it."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.world = server.world
        self.base_url = server.base_url

    def _post(self, path: str, **data: Any) -> dict[str, Any]:
        body = {name: value for name, value in data.items() if value is not None}
        response = requests.post(f"{self.base_url}/_simulator/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def fault(
        self,
        kind: str,
        identity_id: int | None = None,
        *,
        times: int | None = None,
        seconds: float | None = None,
        endpoint: str | None = None,
        after_bytes: int | None = None,
    ) -> dict[str, Any]:
        fault = self._post(
            "faults",
            kind=kind,
            identity_id=identity_id,
            times=times,
            seconds=seconds,
            endpoint=endpoint,
            after_bytes=after_bytes,
        )
        return fault["fault"]

    def clear_faults(self) -> None:
        requests.delete(f"{self.base_url}/_simulator/faults", timeout=5).raise_for_status()

    def force(self, file_id: int, status: str) -> None:
        self._post(f"files/{file_id}", status=status)

    def add_run(self, identity_id: int, export_id: int | None = None) -> int:
        return self._post(f"identities/{identity_id}/runs", export_id=export_id)["export_files"]["id"]

    def file_ids(self, identity_id: int) -> list[int]:
        return [state.id for state in self.world.files(identity_id)]

    def start_batch(self, identity_id: int, template_id: int, outcome: str | None = None) -> int:
        """A new PDF Manager batch of the template, starting now (`outcome`: how it ends); its id."""
        body = self._post(f"identities/{identity_id}/pdf_manager_batches", template_id=template_id, outcome=outcome)
        return body["pdf_manager_batch"]["id"]

    def force_batch(self, batch_id: int, state: str) -> None:
        self._post(f"pdf_manager_batches/{batch_id}", state=state)

    def advance(self, seconds: float) -> None:
        """Moves the simulated world's clock on (runs and batches past their retention drop off its lists)."""
        self._post("clock", advance=seconds)

    def calls(self, identity_id: int | None = None) -> dict[str, int]:
        """The API calls the simulator answered so far, by endpoint (E1-E7, P1-P6), for one identity when given."""
        counted: dict[str, int] = {}
        for (endpoint, about), count in self.server.app.calls.items():
            if identity_id is None or about == identity_id:
                counted[endpoint] = counted.get(endpoint, 0) + count
        return counted
