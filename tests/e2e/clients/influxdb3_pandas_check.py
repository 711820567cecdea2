"""influxdb3-python's pandas mode against a pe server's one port: argv URL TOKEN DB.

Run in a child interpreter with pandas on its path (pe's own environment has no NumPy)."""
import sys

import pandas as pd
from influxdb_client_3 import InfluxDBClient3

url, token, db = sys.argv[1:4]
with InfluxDBClient3(host=url, token=token, database=db) as c:
    df = c.query("SELECT host, usage FROM cpu ORDER BY host", mode="pandas")
    assert isinstance(df, pd.DataFrame), type(df)
    assert df["host"].tolist() == ["a", "b"] and df["usage"].tolist() == [1.5, 2.5], df
    n = c.query("SELECT count(*) AS n FROM cpu", mode="pandas")
    assert int(n["n"][0]) == 2, n
print("OK", flush=True)
