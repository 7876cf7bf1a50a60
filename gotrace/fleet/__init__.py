"""Many captures, one dataset: ``gotrace fleet collect`` writes it, ``gotrace fleet report``
and :func:`open` read it (DuckDB in-process; Dask for a cluster)."""
