"""``python -m ratebook`` runs the CLI."""

from ratebook.cli import main

main()
