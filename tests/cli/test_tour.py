"""The tour `ratebook demo` writes runs as printed: every command of its README, in order,
from a fresh folder, through the real entry point, shows what its comment promises."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ratebook.tour import write_tour

_STEP = re.compile(r"^(?P<command>ratebook .+?)\s+# → (?P<shows>.+)$")


def _steps(readme: str) -> list[tuple[str, str]]:
    """The ``(command, what it shows)`` of the README's first shell block."""
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    steps = []
    for line in block.splitlines():
        found = _STEP.match(line)
        assert found is not None, f"a tour line without its promise: {line!r}"
        steps.append((found["command"], found["shows"]))
    return steps


@pytest.mark.slow
def test_the_tour_runs_as_printed(tmp_path: Path) -> None:
    tour = write_tour(tmp_path / "tour")
    steps = _steps((tour / "README.md").read_text(encoding="utf-8"))
    assert len(steps) >= 25
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATEBOOK_")}
    for command, shows in steps:
        args = shlex.split(command)
        done = subprocess.run(
            [sys.executable, "-m", "ratebook", *args[1:]],
            cwd=tour,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in said, command
        assert shows in said, f"{command}: expected {shows!r} in\n{done.stdout}{done.stderr}"
    # what the tour leaves behind
    assert (tour / "T001-2026-10.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in (tour / "invoices").iterdir()) == [
        "TOUR-000001.json",
        "TOUR-000002.json",
    ]
    assert (tour / "incoming" / "done" / "november.csv").exists()  # the feed moved it
