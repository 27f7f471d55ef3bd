"""The loaded-store fixture of the CLI tests, shared by every CLI test module."""

from tests.cli.test_cli import loaded

__all__ = ["loaded"]
