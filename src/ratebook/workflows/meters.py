"""The meters a server or consumer reads CloudEvents with: the file
``RATEBOOK_METERS_FILE`` names (``model.meters``)."""

from __future__ import annotations

from ratebook.model.meters import Meters
from ratebook.settings import Settings
from ratebook.sources.meters import load_meters


def configured_meters(settings: Settings) -> Meters | None:
    """The meters of ``settings.meters_file`` (read again when the file changes), or None.

    Raises:
        InputError: the file cannot be read, or ``BAD_METER`` naming the key at fault.
    """
    return load_meters(settings.meters_file)
