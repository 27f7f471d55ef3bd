"""Use cases, one a module: each opens the transaction, calls pure code and the store."""
