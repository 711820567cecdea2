"""The Caches pane: plugin cache scopes with their keys, and the system caches as trees."""
from .pane import CachesPane

__all__ = ["CachesPane"]
