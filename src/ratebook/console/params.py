"""The console's path parameters, bounded as the store keeps them (out of bounds: 400)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

#: An exception's or an invoice line's store key.
RowId = Annotated[int, Path(ge=1, le=2**62)]
#: A dispute's or an invoice's number.
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: A name in a path: an account, a rate table, a period, an import's job.
Name = Annotated[str, Path(min_length=1, max_length=255)]
