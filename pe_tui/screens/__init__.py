"""Modal screens: confirmation, trigger detail, activation detail, cache value, help."""
from .activation_detail import ActivationDetailScreen
from .cache_value import CacheValueScreen
from .confirm import ConfirmScreen
from .help import HelpScreen
from .trigger_detail import TriggerDetailScreen

__all__ = ["ActivationDetailScreen", "CacheValueScreen", "ConfirmScreen", "HelpScreen", "TriggerDetailScreen"]
