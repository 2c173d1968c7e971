"""Inbound path: parsing, coercion, authentication and the ingest pipeline."""
