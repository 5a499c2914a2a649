"""The SQL people and models write, turned into what Polars runs (see :mod:`.dialect`)."""
