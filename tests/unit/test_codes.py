"""Every code Ratebook gives is in ``model.codes`` once, with a meaning, and every code there
is given somewhere: the list and the code cannot drift apart."""

from __future__ import annotations

import ast
from pathlib import Path

from ratebook.model import codes
from ratebook.model.rejections import Code, SubCode

SOURCE = Path(codes.__file__).parents[1]


def _given() -> dict[str, str]:
    """Each code the source gives, and where: the first argument of an error or problem
    (``InputError("BAD_DATE", ...)``, ``Problem(422, "VALIDATION_FAILED", ...)``), or the
    ``code=`` of one, or of a check's violation or finding."""
    found: dict[str, str] = {}
    for path in SOURCE.rglob("*.py"):
        if "migrations" in path.parts or path.name == "codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            callee = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if not callee.endswith(
                ("Error", "Problem", "problem", "_Refused", "Violation", "Finding")
            ):
                continue
            texts = [*node.args[:2], *(k.value for k in node.keywords if k.arg == "code")]
            for text in texts:
                if (
                    isinstance(text, ast.Constant)
                    and isinstance(text.value, str)
                    and text.value.isupper()
                    and " " not in text.value
                ):
                    found.setdefault(text.value, f"{path.name}:{node.lineno}")
    return found


def test_every_code_given_is_listed_with_its_meaning() -> None:
    given = _given()
    assert len(given) > 100  # the scan sees the raise sites
    assert {code: where for code, where in given.items() if code not in codes.CODES} == {}


def test_every_listed_code_is_given_somewhere() -> None:
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in SOURCE.rglob("*.py")
        if p.name != "codes.py" and "migrations" not in p.parts
    )
    assert [code for code in codes.CODES if f'"{code}"' not in text] == []


def test_each_code_is_listed_once_and_the_queue_codes_match_their_enums() -> None:
    groups = (codes.EXCEPTIONS, codes.SUB_CODES, codes.ERRORS, codes.FINDINGS)
    assert sum(len(g) for g in groups) == len(codes.CODES)
    assert set(codes.EXCEPTIONS) == {c.value for c in Code}
    assert set(codes.SUB_CODES) == {c.value for c in SubCode}
    assert all(meaning and meaning[0].islower() for meaning in codes.CODES.values())
