"""The one value-cache interface: what every cache kind (last values, distinct values) does.

Layers above (the manager, the SQL functions, system tables, the HTTP API and the console)
talk to caches only through `ValueCache` and `CacheKind`; no caller branches on the kind.
A kind is one module (last.py, distinct.py) with a definition record and a ValueCache subclass;
kinds.py lists them.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from ..catalog import TableDef


class CacheKind(enum.StrEnum):
    LAST = "last"
    DISTINCT = "distinct"

    @classmethod
    def parse(cls, text: str) -> "CacheKind":
        """ValueError (a 400) for anything but 'last' or 'distinct'."""
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"unknown cache kind '{text}': use 'last' or 'distinct'") from None

    @property
    def short(self) -> str:
        """"lvc" | "dvc": how listings and the console abbreviate it."""
        return {"last": "lvc", "distinct": "dvc"}[self.value]

    @property
    def long_name(self) -> str:
        return {"last": "last-value cache", "distinct": "distinct-value cache"}[self.value]

    @property
    def function(self) -> str:
        """The SQL table function that reads caches of this kind."""
        return f"{self.value}_cache"

    @property
    def system_table(self) -> str:
        """The system table that lists caches of this kind."""
        return f"{self.value}_caches"


class CacheDefinition(Protocol):
    """What a cache was created with; stored as `to_json()` and read back by the kind's from_json."""

    db: str
    table: str
    name: str
    db_id: str

    @property
    def kind(self) -> CacheKind: ...

    def to_json(self) -> dict: ...

    def created_response(self, tdef: TableDef) -> dict: ...


class SqlRunner(Protocol):
    """Runs SQL against a database's tables (the refill reads recent rows with it)."""

    def execute(self, db: str, sql: str, params: dict[str, Any] | None = None) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class CacheItem:
    """One entry as the console shows it. LVC: a cached row (`key` = key column values, `values`
    = value columns with `time` as int ns, `age` = seconds since it was cached). DVC: one
    combination (`key` = its values, `values` None, `age` = seconds since its data time)."""

    key: tuple
    values: dict[str, Any] | None
    age: float


@dataclass(frozen=True, slots=True)
class CacheSummary:
    """A cache as listings show it: its definition flattened, and its size. Settings that do
    not apply to the kind are 0 / None. The console builds its ValueCacheRow from this."""

    kind: CacheKind
    db: str
    table: str
    name: str
    columns: list[str]  # LVC: the key columns; DVC: the column hierarchy (first = top level)
    value_columns: list[str] | None  # LVC: None = every non-key column
    count: int  # LVC: rows kept per key
    ttl: int  # LVC: seconds
    max_cardinality: int  # DVC
    max_age: int  # DVC: seconds
    keys: int  # held now: LVC keys, DVC combinations
    rows: int  # LVC rows held (0 for a DVC)


@dataclass(frozen=True, slots=True)
class RefillQuery:
    """The SQL that reads the rows a cache would hold had it been running."""

    sql: str
    params: dict[str, pa.Scalar]


Clock = Callable[[], int]  # wall clock, ns


def quote_ident(name: str) -> str:
    """An SQL identifier, quoted (refill queries name the user's table and columns)."""
    return '"' + name.replace('"', '""') + '"'


class ValueCache(ABC):
    """One cache. `update` runs on the engine loop (a WAL flush); reads come from any thread."""

    kind: ClassVar[CacheKind]
    d: Any  # the kind's definition record (a CacheDefinition)
    version: int  # moves whenever the contents change

    @abstractmethod
    def __init__(self, definition: Any, clock: Clock) -> None: ...

    # -- the kind, for managers and listings ------------------------------------------------
    @classmethod
    @abstractmethod
    def from_json(cls, data: dict) -> CacheDefinition:
        """A stored definition of this kind."""

    @staticmethod
    @abstractmethod
    def system_rows(rows: list[tuple[Any, TableDef]]) -> pa.Table:
        """This kind's system table (`system.<kind>_caches`) for (definition, table) pairs."""

    # -- writes -----------------------------------------------------------------------------
    @abstractmethod
    def update(self, batch: pa.RecordBatch | pa.Table, tdef: TableDef, *, now: int | None = None) -> bool:
        """Merge one flushed batch (rows in arrival order); True when the contents changed."""

    @abstractmethod
    def refill_query(self, tdef: TableDef, now: int) -> RefillQuery | None:
        """SQL for the table's rows this cache would hold now; None when it cannot be asked."""

    @abstractmethod
    def refill(self, rows: pa.Table, tdef: TableDef, now: int) -> None:
        """Take what `refill_query` returned (on create and on restart)."""

    # -- reads ------------------------------------------------------------------------------
    @property
    @abstractmethod
    def filter_columns(self) -> list[str]:
        """Columns a `WHERE col = v` / `col IN (...)` may narrow a lookup by."""

    @property
    def hierarchy(self) -> list[str] | None:
        """Columns whose leading prefix a projection may select (DVC); None: no such order."""
        return None

    @abstractmethod
    def read(
        self,
        tdef: TableDef,
        predicates: dict[str, set] | None = None,
        *,
        depth: int | None = None,
        now: int | None = None,
    ) -> pa.Table:
        """The contents as the SQL function returns them, narrowed by `predicates` (column ->
        allowed values) and, for kinds with a hierarchy, cut to its first `depth` columns."""

    @abstractmethod
    def entries(self, tdef: TableDef, *, now: int | None = None) -> list:
        """The kind's own entry records (CacheEntry / DistinctEntry)."""

    @abstractmethod
    def items(self, tdef: TableDef, *, now: int | None = None) -> list[CacheItem]:
        """The contents as uniform CacheItems, sorted as the cache keeps them."""

    @abstractmethod
    def describe(self) -> CacheSummary:
        """Definition and size, flat, for listings (the console's ValueCacheRow)."""

    @property
    @abstractmethod
    def expires_after(self) -> int:
        """Seconds after which an entry is gone (LVC ttl, DVC max_age)."""
