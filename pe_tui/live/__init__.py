"""The live console source: an EngineBridge over an engine running in an EngineThread."""
from .bridge import SUBSCRIPTION_MAXLEN, EngineBridge

__all__ = ["SUBSCRIPTION_MAXLEN", "EngineBridge"]
