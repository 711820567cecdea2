"""How each kind of system cache is shown: one small view per kind (last values, distinct values).

The engine reads every kind through one interface (storage/caches/base.py); the console does the
same here: the Caches pane, its tree and its texts ask the row's view (`view_of(row)`) instead
of branching on the kind. A new kind is one more view in `VIEWS`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ... import fmt
from ...model import ValueCacheRow


def dur(seconds: int) -> str:
    """Whole seconds as the largest exact unit: 4h, 90m, 1d, 45s."""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


def card(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return fmt.count(n)


@dataclass(frozen=True)
class KindView:
    kind: str
    short: str  # LVC | DVC
    style: str
    long_name: str  # "last-value cache"
    adjective: str  # "last-value": the system list's counts
    noun: str  # what one entry is: "key" | "combination"
    has_rows: bool  # entries carry cached rows (LVC); else an entry is its key (DVC)

    @property
    def nouns(self) -> str:
        return self.noun + "s"

    def limit(self, r: ValueCacheRow) -> str:
        """The cache's bounds, as short as possible (the system list's LIMIT column)."""
        raise NotImplementedError

    def settings(self, r: ValueCacheRow) -> str:
        """The definition, for the info line above the tree."""
        raise NotImplementedError

    def several_rows(self, r: ValueCacheRow) -> bool:
        """Whether a key's node holds several rows (a level of its own in the tree)."""
        return False

    def expires_after(self, r: ValueCacheRow) -> int:
        """Seconds after which an entry is gone (0: never)."""
        raise NotImplementedError

    def empty(self, r: ValueCacheRow) -> str:
        raise NotImplementedError

    def header(self, r: ValueCacheRow, age_text: str) -> list[str]:
        """The value screen's first lines for one entry `age_text` old."""
        raise NotImplementedError


class LastValues(KindView):
    def limit(self, r: ValueCacheRow) -> str:
        return f"{r.count}/{dur(r.ttl)}"

    def settings(self, r: ValueCacheRow) -> str:
        return f" · key {', '.join(r.columns) or '(none)'} · count {r.count} · ttl {dur(r.ttl)}"

    def several_rows(self, r: ValueCacheRow) -> bool:
        return r.count > 1 or not r.columns

    def expires_after(self, r: ValueCacheRow) -> int:
        return r.ttl

    def empty(self, r: ValueCacheRow) -> str:
        return f"no rows cached within the ttl ({dur(r.ttl)})"

    def header(self, r: ValueCacheRow, age_text: str) -> list[str]:
        newer = "the next row of its key" if r.count == 1 else f"{r.count} newer rows of its key"
        return [f"# last-value cache {r.label} (count {r.count}, ttl {dur(r.ttl)})",
                f"# cached {age_text} ago; replaced by {newer}, or dropped {dur(r.ttl)} after it was cached"]


class DistinctValues(KindView):
    def limit(self, r: ValueCacheRow) -> str:
        return f"{card(r.max_cardinality)}/{dur(r.max_age)}"

    def settings(self, r: ValueCacheRow) -> str:
        return f" · {' → '.join(r.columns)} · max {r.max_cardinality:,} · max age {dur(r.max_age)}"

    def expires_after(self, r: ValueCacheRow) -> int:
        return r.max_age

    def empty(self, r: ValueCacheRow) -> str:
        return f"no values seen within max_age ({dur(r.max_age)})"

    def header(self, r: ValueCacheRow, age_text: str) -> list[str]:
        return [f"# distinct-value cache {r.label} (max {r.max_cardinality:,}, max age {dur(r.max_age)})",
                f"# last seen with data {age_text} old: dropped when that passes {dur(r.max_age)}"]


VIEWS: dict[str, KindView] = {
    "last": LastValues("last", "LVC", "cyan", "last-value cache", "last-value", "key", has_rows=True),
    "distinct": DistinctValues("distinct", "DVC", "magenta", "distinct-value cache", "distinct-value",
                               "combination", has_rows=False),
}
ORDER = {kind: i for i, kind in enumerate(VIEWS)}


def view_of(row: ValueCacheRow) -> KindView:
    return VIEWS.get(row.kind) or VIEWS["distinct"]
