"""TableBatch, the entry of `table_batches`: pickling keeps its rows lazy."""
from __future__ import annotations

import pyarrow as pa

from pe_engine.processing.py_api import TableBatch


def test_pickling_a_table_batch_does_not_build_its_rows() -> None:
    """A worker process's plugin that caches its table_batches pickles them: rows stay lazy."""
    import copy
    import pickle

    batch = pa.RecordBatch.from_pydict({"v": pa.array([1.5, 2.5]), "time": pa.array([1, 2], pa.timestamp("ns"))})
    tb = TableBatch("m", batch)
    for again in (pickle.loads(pickle.dumps(tb, protocol=5)), copy.deepcopy(tb)):
        assert not dict.__contains__(tb, "rows") and not dict.__contains__(again, "rows")
        assert type(again) is TableBatch and again["arrow"].equals(batch) and again.num_rows == 2
        assert again["rows"] == [{"v": 1.5, "time": 1}, {"v": 2.5, "time": 2}]  # still built on access
    tb["rows"][0]["v"] = 9.0  # what a plugin changed travels as it is
    tb["extra"] = 1
    again = pickle.loads(pickle.dumps(tb))
    assert again["rows"][0]["v"] == 9.0 and again["extra"] == 1
