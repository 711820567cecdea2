"""Compatibility suite: plugins of the official InfluxDB 3 plugin library run unchanged against a
real `pe serve`, in both plugin isolation modes.

How to run it: point `PE_OFFICIAL_PLUGINS` at an exported copy of influxdata/influxdb3_plugins
(`git clone https://github.com/influxdata/influxdb3_plugins` or `git archive` of a mirror), then
run one test at a time on a small machine:

    PE_OFFICIAL_PLUGINS=/path/to/influxdb3_plugins pytest -q -n 0 \
        "tests/compat/test_official_plugins.py::test_wal_plugin_counts_rows_per_table[thread]"

Without the variable the suite uses the read-only mirror named in test_official_plugins.MIRROR if
it exists, and otherwise skips every test (as on CI). The first run builds the plugins' venv
(pandas, scipy, ...) under the system temp dir, which takes minutes; `PE_COMPAT_VENV` picks
another directory. Later runs reuse it.
"""
