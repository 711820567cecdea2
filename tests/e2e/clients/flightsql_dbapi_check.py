"""flightsql-dbapi and its SQLAlchemy dialect against a pe server: argv HOST PORT TOKEN DB.

Run by tests/e2e/test_flightsql_e2e.py in a child interpreter with pandas on its path (that client
turns every answer into a DataFrame, and pe's own environment has no NumPy). Prints OK at the end."""
import importlib
import sys

import sqlalchemy
from flightsql import FlightSQLClient
from flightsql import connect as flightsql_connect

host, port, token, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
client = FlightSQLClient(host=host, port=port, insecure=True, token=token, metadata={"database": db})
conn = flightsql_connect(client)
cur = conn.cursor()
cur.execute("SELECT host, usage FROM cpu ORDER BY host")
rows = [tuple(r) for r in cur.fetchall()]
assert rows == [("a", 1.5), ("b", 2.5), ("c", 3.5)], rows
assert "cpu" in conn.flightsql_get_table_names("iox")
schemas = conn.flightsql_get_schema_names()
assert schemas == ["information_schema", "iox", "system"], schemas
cols = {c["name"]: c for c in conn.flightsql_get_columns("cpu", "iox")}
assert set(cols) == {"host", "region", "usage", "n", "time"}, cols
conn.close()

importlib.import_module("flightsql.sqlalchemy")  # registers the datafusion+flightsql dialect
engine = sqlalchemy.create_engine(f"datafusion+flightsql://{host}:{port}?insecure=true&token={token}&database={db}")
with engine.connect() as c:
    got = [r[0] for r in c.execute(sqlalchemy.text("SELECT host FROM cpu WHERE usage > 2 ORDER BY host")).fetchall()]
    assert got == ["b", "c"], got
inspector = sqlalchemy.inspect(engine)
assert {"cpu", "mem"} <= set(inspector.get_table_names())
assert set(inspector.get_table_names(schema="iox")) == {"cpu", "mem"}
engine.dispose()
print("OK", flush=True)
