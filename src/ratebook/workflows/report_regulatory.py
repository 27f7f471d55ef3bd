"""Build a regulatory usage report of an entity's period from one snapshot of the ledger, and
write its files: CSV, XLSX, PDF and a JSON manifest carrying the SHA-256 of its inputs and of
each file (``docs/reports.md``)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from ratebook.billing.compose import canonical_json
from ratebook.billing.regulatory import (
    CSV_MEASURES,
    WIDE_SCALE,
    Computed,
    Context,
    InputsDigest,
    compute,
    csv_rows,
    grouped_partial,
)
from ratebook.errors import InputError
from ratebook.model.ledger import Period
from ratebook.model.parties import Entity
from ratebook.model.regulatory import Profile
from ratebook.money import AMOUNT_SCALE, format_fixed, minor_places
from ratebook.render import regulatory as render
from ratebook.sources.profiles import load_profile, shipped_profiles
from ratebook.store import reports
from ratebook.store.billing import load_tax_rates
from ratebook.store.engine import mapped_reads, snapshot
from ratebook.store.entities import get_entity

#: The report files an ``--out`` folder receives, by kind.
FILES = {"csv": "report.csv", "xlsx": "report.xlsx", "pdf": "report.pdf"}
MANIFEST = "manifest.json"
#: The CSV's columns of whole counts and of quantities; its other measures are money.
COUNTS = ("records", "answered")
QUANTITIES = ("quantity", "billed_quantity", "weight")


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    """A computed report and its CSV.

    Attributes:
        inputs_sha256: the digest of the ledger rows it read (``InputsDigest``).
        csv: the CSV's bytes; ``csv_sha256`` their digest.
    """

    entity: Entity
    profile: Profile
    period: str
    basis: str
    computed: Computed
    rows_read: int
    inputs_sha256: str
    csv: bytes

    @property
    def csv_sha256(self) -> str:
        return hashlib.sha256(self.csv).hexdigest()

    @property
    def minor(self) -> int:
        return minor_places(self.entity.currency)

    def money(self, value: int, scale: int = AMOUNT_SCALE) -> str:
        return format_fixed(value, scale, min_places=self.minor)

    def manifest(self, files: dict[str, str] | None = None) -> dict[str, Any]:
        """The report's manifest: what it is, what it read and what it holds, reconciled;
        ``files`` names each written file's SHA-256."""
        r = self.computed.reconciliation
        return {
            "report": "regulatory",
            "entity": self.entity.code,
            "entity_name": self.entity.name,
            "period": self.period,
            "zone": self.entity.timezone,
            "basis": self.basis,
            "currency": self.entity.currency,
            "profile": self.profile.profile,
            "profile_version": self.profile.version,
            "profile_definition": self.profile.model_dump(mode="json"),
            "rows_read": self.rows_read,
            "inputs_sha256": self.inputs_sha256,
            "csv_sha256": self.csv_sha256,
            "files": files or {},
            "totals": {
                "gross": self.money(self.computed.gross),
                "credits": self.money(self.computed.credits),
                "net": self.money(self.computed.gross - self.computed.credits),
                "tax": self.money(self.computed.tax, WIDE_SCALE),
            },
            "reconciliation": {
                "ledger_invoiced": self.money(r.invoiced),
                "ledger_open": self.money(r.open),
                "ledger_credits": self.money(r.ledger_credits),
                "usage_difference": self.money(r.usage_difference),
                "credit_difference": self.money(r.credit_difference),
                "reconciled": r.holds,
            },
            "pending": [
                {"code": code, "unit": unit, "records": n, "quantity": str(q)}
                for code, unit, n, q in self.computed.pending
            ],
        }


def compute_report(
    conn: Connection,
    entity: Entity,
    profile: Profile,
    period: str,
    basis: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Built:
    """The report of ``period`` read through ``conn`` (one snapshot of the store)."""
    bounds = Period.parse(period).bounds(entity.timezone)
    context = Context(
        profile=profile,
        home_region=entity.region,
        on_net=reports.on_net_numbers(conn, entity.id),
        tax_rates=load_tax_rates(conn, entity.id),
    )
    digest = InputsDigest()
    partials = []
    read = 0
    # the ledger's own sums first: they count the charges the progress is out of
    ledger = reports.ledger_sums(conn, entity.id, period=period, basis=basis, bounds=bounds)
    destination_chars, caller_chars = context.prefix_chars
    # the month's charges, summed in the database
    for frame in reports.grouped_usage(
        conn,
        entity.id,
        period=period,
        basis=basis,
        bounds=bounds,
        attribute=profile.roaming_attribute,
        on_net="direction" in profile.group_by,
        destination_chars=destination_chars,
        caller_chars=caller_chars,
    ):
        digest.add("groups", frame)
        partials.append(grouped_partial(frame, context))
        read += int(frame["records"].sum())
        if progress is not None:
            progress(read, ledger["charges"])
    credits = reports.credit_rows(conn, entity.id, period=period, basis=basis, bounds=bounds)
    digest.add("credits", credits)
    pending = reports.pending_rows(conn, entity.id, period)
    digest.add("pending", pending)
    computed = compute(partials, credits, pending, ledger, context=context)
    rows = csv_rows(computed, minor=minor_places(entity.currency))
    return Built(
        entity=entity,
        profile=profile,
        period=period,
        basis=basis,
        computed=computed,
        rows_read=read + credits.height,
        inputs_sha256=digest.hexdigest(),
        csv=render.csv_bytes(rows[0], rows[1:]),
    )


def build_report(
    engine: Engine,
    *,
    period: str,
    profile: str = "generic",
    basis: str | None = None,
    entity_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    profile_files: bool = True,
) -> Built:
    """The report of ``period`` with the profile named ``profile`` (shipped, or when
    ``profile_files`` a YAML file), on ``basis`` (``usage``: by the usage's start;
    ``invoice``: by the invoice's issue; the profile's when None), from one snapshot of the
    store.

    Raises:
        InputError: a bad period, basis or profile.
        NotFoundError: an unknown entity.
    """
    Period.parse(period)
    chosen = load_profile(profile, files=profile_files)
    if basis is not None and basis not in ("usage", "invoice"):
        raise InputError("UNKNOWN_CHOICE", "the basis is 'usage' or 'invoice'", path="--basis")
    with snapshot(engine) as conn, mapped_reads(conn):
        entity = get_entity(conn, entity_code)
        return compute_report(
            conn, entity, chosen, period, basis or chosen.basis, progress=progress
        )


def report_profiles() -> list[Profile]:
    """The profiles Ratebook ships, by name."""
    return [load_profile(name) for name in shipped_profiles()]


def document(built: Built) -> render.ReportDocument:
    """The report as the renderer shows it."""
    computed = built.computed
    r = computed.reconciliation
    money = built.money
    summary = [
        ("Records", str(sum(line.records for line in computed.lines))),
        ("Gross revenue", money(computed.gross)),
        ("Credits and adjustments", money(computed.credits)),
        ("Net revenue", money(computed.gross - computed.credits)),
        ("Tax (kept apart)", money(computed.tax, WIDE_SCALE)),
    ]
    if computed.weighted is not None:
        summary.append(("Weighted net revenue", money(computed.weighted, WIDE_SCALE)))
    if computed.threshold is not None:
        summary.append(("Threshold", money(computed.threshold)))
    if computed.contribution is not None:
        summary.append(("Contribution", money(computed.contribution, WIDE_SCALE + 6)))
    pending = sum(n for _, _, n, _ in computed.pending)
    summary.append(("Pending exceptions (records)", str(pending)))
    categories: dict[str, int] = {}
    if "category" in computed.dimensions:
        at = computed.dimensions.index("category")
        for line in computed.lines:
            categories[line.dims[at]] = categories.get(line.dims[at], 0) + line.net
    parsed = list(csv.reader(built.csv.decode("utf-8").splitlines()))
    return render.ReportDocument(
        title=built.profile.title,
        entity=f"{built.entity.name} ({built.entity.code})",
        period=f"{built.period} ({built.entity.timezone})",
        profile=built.profile.name,
        basis="usage start time" if built.basis == "usage" else "invoice date",
        currency=built.entity.currency,
        note=built.profile.note,
        minor=built.minor,
        header=parsed[0],
        rows=parsed[1:],
        counts=frozenset(COUNTS),
        quantities=frozenset(QUANTITIES),
        money=frozenset(set(CSV_MEASURES) - set(COUNTS) - set(QUANTITIES) - {"code"}),
        summary=summary,
        categories=[
            (c, Decimal(format_fixed(v, AMOUNT_SCALE))) for c, v in categories.items() if v > 0
        ],
        reconciliation=[
            ("Report gross revenue", money(r.gross)),
            ("Ledger usage invoiced", money(r.invoiced)),
            ("Ledger usage open", money(r.open)),
            ("Difference", money(r.usage_difference)),
            ("Report credits", money(r.credits)),
            ("Ledger credits and adjustments", money(r.ledger_credits)),
            ("Difference", money(r.credit_difference)),
            ("Reconciled", "yes" if r.holds else "NO"),
        ],
        digests=[("Inputs", built.inputs_sha256), ("CSV", built.csv_sha256)],
    )


def write_report(built: Built, out_dir: Path) -> dict[str, Path]:
    """Write the report's files and manifest into ``out_dir`` (created if missing); returns
    their paths by kind.

    Raises:
        InputError: ``OUT_NOT_A_FOLDER`` or ``FILE_UNWRITABLE``.
    """
    doc = document(built)
    contents = {
        "csv": built.csv,
        "xlsx": render.xlsx_bytes(doc),
        "pdf": render.pdf_bytes(doc),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for kind, data in contents.items():
            paths[kind] = out_dir / FILES[kind]
            paths[kind].write_bytes(data)
        files = {FILES[k]: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
        paths["manifest"] = out_dir / MANIFEST
        paths["manifest"].write_text(
            json.dumps(built.manifest(files), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    except (FileExistsError, NotADirectoryError):
        raise InputError("OUT_NOT_A_FOLDER", "is not a folder", path=out_dir) from None
    except OSError as exc:
        raise InputError("FILE_UNWRITABLE", exc.strerror or str(exc), path=out_dir) from None
    return paths


def manifest_text(built: Built) -> str:
    """The manifest (without file digests) as canonical JSON, as a filing keeps it."""
    return canonical_json(built.manifest())
