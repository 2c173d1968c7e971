"""Ingest's speed-ups, each measured to earn its place (``docs/performance.md``).

Nothing outside this package depends on them: each replaces a plain step that reads
correctly on its own, through a small interface, and Claybridge answers the same
without it:

* :mod:`.deferred_upserts`: on SQLite, a batch's customer upserts are merged in Python
  and written at its end, and the rows carried to the next batch (plain:
  :func:`claybridge.records.customers.upsert`, the :class:`~claybridge.records.batch.Batch`
  default).
"""
