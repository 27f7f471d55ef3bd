"""Reading YAML files into pydantic models with located errors (feeds, rate tables)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ratebook.errors import InputError

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], code: str) -> M:
    """Parse ``path`` as YAML into ``model``.

    Raises:
        InputError: ``FILE_NOT_FOUND``; ``BAD_YAML`` with the line; or ``code`` naming the
            setting at fault, e.g. ``feeds[1].host``.
    """
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", "no such file", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            "BAD_YAML", str(getattr(exc, "problem", exc)), path=path, line=line
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = re.sub(r"^Value error, ", "", first["msg"])
        raise InputError(code, message, path=path, field=_where(first["loc"]) or None) from None


def _where(loc: tuple[int | str, ...]) -> str:
    """``("feeds", 1, "sftp", "host")`` → ``feeds[1].host`` (union tags left out)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("folder", "sftp", "s3"):
            out += f".{part}" if out else str(part)
    return out
