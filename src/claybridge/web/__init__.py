"""HTTP surface other than the ingest hot path: the admin API and health checks."""
