"""One module per pane; each pane reads ticks (model.Tick) and never talks to the engine itself: what it wants
done it posts as an intent message (pe_tui.messages) for the app. Import siblings directly; this is the face."""
from .activations import ActivationsPane
from .base import Pane
from .caches import CachesPane
from .logs import LogsPane
from .performance import PerformancePane
from .plugins import PluginsPane
from .triggers import TriggersPane

PANE_CLASSES = (TriggersPane, ActivationsPane, PerformancePane, LogsPane, CachesPane, PluginsPane)

__all__ = [
    "PANE_CLASSES",
    "ActivationsPane",
    "CachesPane",
    "LogsPane",
    "Pane",
    "PerformancePane",
    "PluginsPane",
    "TriggersPane",
]
