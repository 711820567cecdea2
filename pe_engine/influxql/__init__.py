"""InfluxQL support: parsing and planning onto DataFusion SQL (in progress)."""
