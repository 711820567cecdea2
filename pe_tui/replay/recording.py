"""RecordingSource: a ConsoleSource wrapper that writes every collected tick as a JSON line
(`pe-tui --record FILE`; replay with `RecordedSource.load`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..model import Tick


class RecordingSource:
    """Wraps a live source and appends every collected tick to a JSON-lines file."""

    def __init__(self, inner: Any, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self._fh = self.path.open("w", encoding="utf-8")
        self.http_url = getattr(inner, "http_url", None)

    def collect(self) -> Tick | None:
        tick = self.inner.collect()
        if tick is not None and not self._fh.closed:
            self._fh.write(json.dumps(tick.to_json(), separators=(",", ":"), default=str) + "\n")
            self._fh.flush()
        return tick

    def close(self) -> None:
        self.inner.close()
        self._fh.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
