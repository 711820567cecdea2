"""pe_engine: an embedded time-series processing engine compatible with the InfluxDB 3 Processing Engine."""
from .config import EngineConfig
from .engine import Engine, FlushedWrites, WriteResult
from .errors import PeError

__all__ = ["Engine", "EngineConfig", "FlushedWrites", "PeError", "WriteResult"]
__version__ = "0.1.0"
