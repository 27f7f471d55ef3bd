"""Pure ledger arithmetic: settling a cycle's tiers, and (with invoicing) closing it."""
