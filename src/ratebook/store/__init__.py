"""Persistence: the schema, its migrations, and typed repository functions (SQLite, PostgreSQL)."""
