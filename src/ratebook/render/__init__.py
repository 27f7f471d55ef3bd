"""Output adapters: listings for the terminal, JSON and CSV; statements."""
