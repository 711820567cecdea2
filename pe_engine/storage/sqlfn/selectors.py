"""InfluxDB 3's selector aggregates: selector_first/last/min/max(value, time[, other...]).

Each returns a struct `{value, time, other_1, ...}` taken from one row of the group:
first/last pick the row with the earliest/latest time, min/max the row with the
smallest/largest value (ties: the earliest time). Rows whose value or time is null are
never picked; a group with no such row gives a null struct. As in InfluxDB, extra
arguments are carried along from the picked row as `other_1`, `other_2`, ...

DataFusion's Python UDAFs have one fixed signature, so each combination of argument
types gets its own registered function (storage/sqlfn/typed.py names and caches them).
The accumulator works a whole batch at a time with pyarrow.compute.
"""
from __future__ import annotations

from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import Accumulator, AggregateUDF, udaf


class SelectorKind(Enum):
    FIRST = "first"
    LAST = "last"
    MIN = "min"
    MAX = "max"

    @property
    def by_time(self) -> bool:
        return self in (SelectorKind.FIRST, SelectorKind.LAST)


def struct_type(value: pa.DataType, time: pa.DataType, others: list[pa.DataType]) -> pa.StructType:
    fields = [pa.field("value", value), pa.field("time", time)]
    fields += [pa.field(f"other_{i + 1}", t) for i, t in enumerate(others)]
    return pa.struct(fields)


class SelectorAccumulator(Accumulator):
    """Keeps the picked row as 1-element arrays (value, time, others)."""

    def __init__(self, kind: SelectorKind, types: list[pa.DataType]) -> None:
        self.kind = kind
        self.types = types
        self.row: list[pa.Array] | None = None

    # -- picking -----------------------------------------------------------
    def _candidate(self, cols: list[pa.Array]) -> list[pa.Array] | None:
        """The best row of one batch, or None when it has no row with value and time."""
        value, time = cols[0], cols[1]
        keep = pc.and_(pc.is_valid(value), pc.is_valid(time))
        if pc.all(keep).as_py() is not True:
            cols = [pc.filter(c, keep) for c in cols]
            value, time = cols[0], cols[1]
        if len(time) == 0:
            return None
        if self.kind.by_time:
            target = pc.min(time) if self.kind is SelectorKind.FIRST else pc.max(time)
            at = pc.index(time, target).as_py()
        else:
            target = pc.min(value) if self.kind is SelectorKind.MIN else pc.max(value)
            hit = pc.equal(value, target)
            earliest = pc.min(pc.filter(time, hit))
            at = pc.index(pc.if_else(hit, time, pa.scalar(None, time.type)), earliest).as_py()
        return [c.slice(at, 1) for c in cols]

    def _better(self, new: list[pa.Array], old: list[pa.Array]) -> bool:
        nv, nt, ov, ot = new[0][0], new[1][0], old[0][0], old[1][0]
        if self.kind is SelectorKind.FIRST:
            return bool(pc.less(nt, ot).as_py())
        if self.kind is SelectorKind.LAST:
            return bool(pc.greater(nt, ot).as_py())
        strictly = pc.less(nv, ov) if self.kind is SelectorKind.MIN else pc.greater(nv, ov)
        if strictly.as_py():
            return True
        return bool(pc.equal(nv, ov).as_py() and pc.less(nt, ot).as_py())

    def _offer(self, cols: list[pa.Array]) -> None:
        cand = self._candidate(cols)
        if cand is not None and (self.row is None or self._better(cand, self.row)):
            self.row = cand

    # -- Accumulator -------------------------------------------------------
    def update(self, *values: pa.Array) -> None:
        self._offer([_decoded(v) for v in values])

    def merge(self, states: list[pa.Array]) -> None:
        self._offer(list(states))

    def state(self) -> list[Any]:
        if self.row is None:
            return [pa.scalar(None, t) for t in self.types]
        return [c[0] for c in self.row]

    def evaluate(self) -> pa.Scalar:
        st = struct_type(self.types[0], self.types[1], self.types[2:])
        if self.row is None:
            return pa.scalar(None, st)
        return pa.StructArray.from_arrays(self.row, fields=list(st))[0]


def _decoded(arr: pa.Array) -> pa.Array:
    """Tags arrive dictionary-encoded; the struct holds their values."""
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def selector_udaf(name: str, kind: SelectorKind, inputs: list[pa.DataType]) -> AggregateUDF:
    """A UDAF named `name` for one combination of argument types."""
    types = [t.value_type if pa.types.is_dictionary(t) else t for t in inputs]
    return udaf(
        lambda: SelectorAccumulator(kind, types),
        list(inputs),
        struct_type(types[0], types[1], types[2:]),
        list(types),
        "immutable",
        name=name,
    )
