"""Console sources without an engine: replay of recorded ticks, the synthetic demo session,
and the recorder that writes a live session's ticks."""
from .recorded import RecordedSource
from .recording import RecordingSource
from .synthetic import FROZEN_NOW

__all__ = ["FROZEN_NOW", "RecordedSource", "RecordingSource"]
