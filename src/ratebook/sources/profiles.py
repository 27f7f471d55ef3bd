"""Regulatory report profiles: the ones Ratebook ships, by name, or a user's own YAML file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ratebook.errors import InputError
from ratebook.model.regulatory import Profile
from ratebook.sources.yamlfile import load_model

_SHIPPED = resources.files("ratebook.sources") / "report_profiles"


def shipped_profiles() -> list[str]:
    """The names of the profiles Ratebook ships."""
    return sorted(
        p.name.removesuffix(".yaml") for p in _SHIPPED.iterdir() if p.name.endswith(".yaml")
    )


def load_profile(name_or_path: str, *, files: bool = True) -> Profile:
    """A shipped profile by name (``generic``), or (when ``files``) the profile in a YAML
    file.

    Raises:
        InputError: ``UNKNOWN_PROFILE`` for a name that is neither; the file's errors, or
            ``BAD_PROFILE`` naming the key at fault.
    """
    if name_or_path in shipped_profiles():
        with resources.as_file(_SHIPPED / f"{name_or_path}.yaml") as path:
            return load_model(path, Profile, "BAD_PROFILE")
    path = Path(name_or_path)
    if files and (path.suffix in (".yaml", ".yml") or path.exists()):
        return load_model(path, Profile, "BAD_PROFILE")
    known = ", ".join(shipped_profiles())
    raise InputError(
        "UNKNOWN_PROFILE",
        f"no profile {name_or_path!r}: Ratebook ships {known}"
        + (", or give the path of a profile's YAML file" if files else ""),
        path="--profile" if files else "profile",
    )
