"""Ratebook: usage metering and CDR billing: ingest, rate, accumulate, bill."""

__version__ = "0.1.0"
