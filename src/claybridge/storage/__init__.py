"""Storage: engine setup, the table definitions and their Alembic migrations."""
