"""Flight SQL prepared statements: their placeholders, and a bounded store of open handles.

A prepared statement is the SQL text, its database and the parameter values last bound (DoPut);
nothing is planned ahead, each execution goes through Engine.query_sync like any query. The
store holds at most `capacity` statements and forgets one idle for `idle_s`: a client that never
closes its statements costs bounded memory, and the least recently used handle makes room.
Placeholders: DataFusion's `$1`/`$name`; `?` (JDBC/ODBC, SQLAlchemy's qmark) is rewritten to
`$1, $2, ...` in order.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

DEFAULT_CAPACITY = 256
DEFAULT_IDLE_S = 600.0

# Skipped while looking for placeholders: string literals, quoted identifiers, comments.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$([A-Za-z0-9_]+)|(\?)", re.DOTALL)


class PlaceholderError(ValueError):
    """A statement mixing `?` with `$` placeholders."""


@dataclass(frozen=True)
class Placeholders:
    sql: str  # `?` rewritten to `$n`
    names: list[str]  # in order of first appearance, without `$`

    @property
    def positional(self) -> bool:
        return all(n.isdigit() for n in self.names)


def placeholders(sql: str) -> Placeholders:
    names: list[str] = []
    out: list[str] = []
    pos = qmarks = 0
    dollars = False
    for m in _TOKENS.finditer(sql):
        if m.group(1) is None and m.group(2) is None:
            continue
        if m.group(2) is not None:
            qmarks += 1
            name = str(qmarks)
            out.append(sql[pos:m.start()] + "$" + name)
            pos = m.end()
        else:
            dollars = True
            name = m.group(1)
        if name not in names:
            names.append(name)
    if qmarks and dollars:
        raise PlaceholderError("use either '?' or '$1'/'$name' placeholders in one statement, not both")
    out.append(sql[pos:])
    return Placeholders("".join(out), names)


def bind(ph: Placeholders, batch: pa.Table) -> dict[str, pa.Scalar]:
    """Parameter values from the one-row table a client put: by position for `$1..`/`?`, by
    column name for `$name` (by position when the names do not match, as ADBC names columns
    by index). ValueError when the shape does not fit."""
    if batch.num_rows != 1:
        raise ValueError(f"pe binds one row of parameter values per execution, got {batch.num_rows} rows")
    cols = batch.column_names
    if len(cols) != len(ph.names):
        raise ValueError(f"the statement has {len(ph.names)} parameter(s) "
                         f"({', '.join('$' + n for n in ph.names) or 'none'}), got {len(cols)} value(s)")
    if not ph.positional and set(cols) == set(ph.names):
        return {name: batch.column(name)[0] for name in ph.names}
    return {name: batch.column(i)[0] for i, name in enumerate(ph.names)}


@dataclass
class Prepared:
    db: str
    sql: str
    placeholders: Placeholders
    params: dict[str, pa.Scalar] | None = None
    used: float = field(default=0.0)


class PreparedStatements:
    """Open handles -> statements, bounded in number and idle time; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, idle_s: float = DEFAULT_IDLE_S,
                 clock: Callable[[], float] = time.monotonic):
        self.capacity, self.idle_s, self._clock = capacity, idle_s, clock
        self._open: OrderedDict[bytes, Prepared] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._open)

    def create(self, db: str, sql: str) -> tuple[bytes, Prepared]:
        ph = placeholders(sql)
        handle = secrets.token_bytes(16)
        with self._lock:
            self._expire()
            while len(self._open) >= self.capacity:
                self._open.popitem(last=False)
            stmt = Prepared(db, ph.sql, ph, used=self._clock())
            self._open[handle] = stmt
        return handle, stmt

    def get(self, handle: bytes) -> Prepared | None:
        with self._lock:
            self._expire()
            stmt = self._open.get(handle)
            if stmt is not None:
                stmt.used = self._clock()
                self._open.move_to_end(handle)
            return stmt

    def close(self, handle: bytes) -> bool:
        with self._lock:
            return self._open.pop(handle, None) is not None

    def _expire(self) -> None:
        cutoff = self._clock() - self.idle_s
        while self._open:
            handle, stmt = next(iter(self._open.items()))
            if stmt.used > cutoff:
                return
            del self._open[handle]
