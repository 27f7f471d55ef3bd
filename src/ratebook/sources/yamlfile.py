"""Reading YAML files into pydantic models with located errors (feeds, rate tables)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ratebook.errors import InputError

M = TypeVar("M", bound=BaseModel)


class _Refused(yaml.YAMLError):
    """A located problem the strict loader found: ``code``, ``problem``, and its line."""

    def __init__(self, code: str, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem)
        self.code = code
        self.problem = problem
        self.problem_mark = mark


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing what it would otherwise take silently or as a traceback:
    a key given twice in one mapping (the last one won), and an impossible date."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    raise _Refused(
                        "DUPLICATE_KEY",
                        f"{key!r} is given twice in one mapping (first on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _Refused(
                "BAD_DATE", f"{node.value!r} is not a date that exists ({exc})", node.start_mark
            ) from None


_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    _StrictLoader.construct_yaml_timestamp,
)


def load_yaml(path: Path) -> Any:
    """``path``'s YAML, read strictly (see ``_StrictLoader``).

    Raises:
        InputError: ``FILE_NOT_FOUND``, ``FILE_UNREADABLE``, ``NOT_UTF8``; ``DUPLICATE_KEY``,
            ``BAD_DATE`` or ``BAD_YAML`` with the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", "no such file", path=path) from None
    except UnicodeDecodeError as exc:
        raise InputError("NOT_UTF8", f"the file is not UTF-8 text ({exc})", path=path) from None
    except OSError as exc:
        raise InputError("FILE_UNREADABLE", exc.strerror or str(exc), path=path) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a safe loader)
    except _Refused as exc:
        raise InputError(exc.code, exc.problem, path=path, line=exc.problem_mark.line + 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            "BAD_YAML", str(getattr(exc, "problem", exc)), path=path, line=line
        ) from None


def load_model(path: Path, model: type[M], code: str) -> M:
    """Parse ``path`` as YAML into ``model``.

    Raises:
        InputError: as ``load_yaml``; or ``code`` naming the setting at fault, e.g.
            ``feeds[1].host``.
    """
    data = load_yaml(path)
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
