"""Claybridge: a self-hosted bridge between Clay tables and your own systems."""

__version__ = "0.1.0"
