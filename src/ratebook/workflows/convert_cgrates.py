"""``ratebook rates convert-cgrates``: a CGRateS tariff plan's rating plan written as a
Ratebook rate table (YAML), for a user to review and import (``sources.cgrates``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ratebook.sources.cgrates import convert
from ratebook.sources.rate_tables import load_rate_table


class _Dumper(yaml.SafeDumper):
    """YAML as a person writes a rate table: no anchors, and every string quoted where a
    reader could take it for something else (``08:00``, ``60``)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    plain = value.replace("_", "").replace("-", "").isalpha()
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else "'")


_Dumper.add_representer(str, _text)


def convert_cgrates(
    folder: Path, rating_plan: str, *, name: str, effective_from: str, out: Path
) -> int:
    """Write the rating plan as a YAML rate table to ``out``, checked as an import would
    read it; the number of rows written.

    Raises:
        InputError: as ``sources.cgrates.convert``, or the table's own check.
    """
    table = convert(folder, rating_plan, name=name, effective_from=effective_from)
    text = (
        f"# CGRateS rating plan {rating_plan} of {folder.name}, written by ratebook rates"
        " convert-cgrates\n"
        + yaml.dump(
            table, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None
        )
    )
    out.write_text(text, encoding="utf-8")
    load_rate_table(out, entity_zone="UTC")  # it reads back as the table it is meant to be
    return len(table["versions"][0]["rows"])
