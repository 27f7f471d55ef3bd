"""The meters file (YAML): how CloudEvents of each type become usage records
(``model.meters``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ratebook.model.meters import Meters
from ratebook.sources.yamlfile import load_model


def load_meters(path: Path | None) -> Meters | None:
    """The meters in ``path`` (None without a file).

    Raises:
        InputError: the file cannot be read, or ``BAD_METER`` naming the key at fault.
    """
    if path is None:
        return None
    return _load(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=8)
def _load(path: Path, _modified: int) -> Meters:
    return load_model(path, Meters, "BAD_METER")
