"""Workflows (named, ordered steps) and their runs."""
