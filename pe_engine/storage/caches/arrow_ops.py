"""Vectorised Arrow steps both cache kinds use to merge a flush: one Python step per key, never
per row (codes through dictionaries, group ids, composite keys, runs of a sorted id column)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..catalog import FIELD_ARROW, TIME_TYPE, ColumnDef, TableDef

_BIG = 2**62


def plain(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array; dictionaries decoded, string views/large strings as Utf8."""
    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    return col


def state_type(col: ColumnDef) -> pa.DataType:
    """How a column is held in a cache: tags as plain strings, the rest as the catalog says."""
    if col.kind == "tag":
        return pa.string()
    if col.kind == "time":
        return TIME_TYPE
    assert col.field_type is not None
    return FIELD_ARROW[col.field_type]


def column_ids(tdef: TableDef) -> dict[str, int]:
    """Stable column ids for the system tables: the column's position in the catalog (columns are
    only ever added, so a position never changes)."""
    return {name: i for i, name in enumerate(tdef.columns)}


def arange(n: int) -> pa.Array:
    """0..n-1 as int64 (no numpy: pyarrow only)."""
    if n == 0:
        return pa.array([], pa.int64())
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def run_starts(sorted_ids: pa.Array) -> pa.Array:
    """True where a run of equal ids begins."""
    n = len(sorted_ids)
    if n == 0:
        return pa.array([], pa.bool_())
    if n == 1:
        return pa.array([True])
    return pa.concat_arrays([pa.array([True]), pc.not_equal(sorted_ids[1:], sorted_ids[:-1])])


def run_ends(sorted_ids: pa.Array) -> pa.Array:
    """True where a run of equal ids ends."""
    n = len(sorted_ids)
    if n == 0:
        return pa.array([], pa.bool_())
    if n == 1:
        return pa.array([True])
    return pa.concat_arrays([pc.not_equal(sorted_ids[:-1], sorted_ids[1:]), pa.array([True])])


def contiguous(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, types untouched (dictionaries stay dictionaries)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        if pa.types.is_dictionary(col.type):
            return plain(col)
        return col.combine_chunks()
    return col


def codes_of(a: pa.Array) -> tuple[pa.Array, int]:
    """int64 codes with equal codes for equal values, and an upper bound of the codes.
    Dictionary arrays (tags) are coded through their (small) dictionary, not value by value."""
    if pa.types.is_dictionary(a.type):
        unique = pc.dictionary_encode(a.dictionary)
        return unique.indices.take(a.indices).cast(pa.int64()), max(1, len(unique.dictionary))
    enc = pc.dictionary_encode(a)
    return enc.indices.cast(pa.int64()), max(1, len(enc.dictionary))


def group_ids(keys: list[pa.Array], n: int) -> pa.Array:
    """int64 ids, equal exactly when all key values are equal (not dense: sort, then number runs)."""
    if not keys:
        return pa.repeat(pa.scalar(0, pa.int64()), n)
    g: pa.Array | None = None
    total = 1
    for a in keys:
        codes, card = codes_of(a)
        if g is None:
            g, total = codes, card
            continue
        if total * card > _BIG // 4:  # keep the combined id small: re-densify first
            enc = pc.dictionary_encode(g)
            g, total = enc.indices.cast(pa.int64()), max(1, len(enc.dictionary))
        g = pc.add(pc.multiply(g, card), codes)
        total *= card
    assert g is not None
    return g


def composite_key(keys: list[pa.Array], n: int) -> pa.Array:
    """One array whose values are equal exactly when the key tuples are: the column itself for
    one key, length-prefixed text (`3:abc|1:x`) for several, "" when there are no key columns."""
    if not keys:
        return pa.repeat(pa.scalar("", pa.string()), n)
    if len(keys) == 1:
        return keys[0]
    parts = []
    for a in keys:
        text = a.cast(pa.string())
        parts.append(pc.binary_join_element_wise(pc.binary_length(text).cast(pa.string()), text, ":"))
    return pc.binary_join_element_wise(*parts, "|")


def run_ordinals(starts: pa.Array) -> pa.Array:
    """For rows sorted by id: the 0-based number of each row's run."""
    return pc.subtract(pc.cumulative_sum(starts.cast(pa.int64())), 1)
