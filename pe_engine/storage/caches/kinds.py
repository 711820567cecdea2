"""The cache kinds there are: each a ValueCache class, found by its CacheKind."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import CacheKind, ValueCache
from .distinct import DistinctCache
from .last import LastCache

KINDS: Mapping[CacheKind, type[ValueCache]] = MappingProxyType({
    CacheKind.LAST: LastCache,
    CacheKind.DISTINCT: DistinctCache,
})
