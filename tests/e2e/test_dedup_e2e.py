"""One point per series key and time through a real `pe serve`: every output format and Flight."""
from __future__ import annotations

import io
import json
import re

import pyarrow.flight as flight
import pyarrow.parquet as pq

from support.http import Http


def test_every_format_and_flight_answer_one_merged_point(server, http: Http, unique_db: str):
    db = unique_db
    assert http.write(db, "dup,t=a f1=1,f2=10 5000000000").status == 204
    assert http.write(db, 'dup,t=a f1=2,f3="x" 5000000000').status == 204
    sql = "SELECT t, f1, f2, f3 FROM dup"
    assert http.query(db, sql, "json").json() == [{"t": "a", "f1": 2.0, "f2": 10.0, "f3": "x"}]
    assert [json.loads(x) for x in http.query(db, sql, "jsonl").text.splitlines()] == [
        {"t": "a", "f1": 2.0, "f2": 10.0, "f3": "x"}]
    assert http.query(db, sql, "csv").text.strip().splitlines()[1:] == ["a,2.0,10.0,x"]
    assert pq.read_table(io.BytesIO(http.query(db, sql, "parquet").body)).num_rows == 1
    port = re.search(r"Arrow Flight queries on grpc\+tcp://\S+:(\d+)", server.stderr)
    assert port, server.stderr
    fc = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port.group(1)}")
    tk = flight.Ticket(json.dumps({"database": db, "sql_query": sql, "query_type": "sql"}).encode())
    headers = [(b"authorization", f"Bearer {server.token}".encode())] if server.token else []
    opts = flight.FlightCallOptions(headers=headers)
    got = fc.do_get(tk, opts).read_all().to_pylist()
    assert got == [{"t": "a", "f1": 2.0, "f2": 10.0, "f3": "x"}]
