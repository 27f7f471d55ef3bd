"""Story: a month of traffic across every destination category, reported to a regulator.

Voice to +60 costs RM0.1000 a minute and to +65 RM0.6000, billed per second (N s cost N/600
and N/100 ringgit); any other destination RM0.1000; data RM0.0100 a MB. Voice is taxed at 8%,
data is outside the scope of tax. ACME is a retail customer, WHOLE a wholesale carrier holding
the number +60387654321.

October, by hand (generic profile: service, direction, category, country, segment):

    r1  ACME  +60323856789  fixed       600 s   1.0000
    r2  ACME  +60123456789  mobile      300 s   0.5000  (a dispute credits 0.20)
    r3  ACME  +601800123456 toll free   120 s   0.2000
    r4  ACME  +601600123456 premium      60 s   0.1000
    r5  ACME  +6561234567   Singapore   100 s   1.0000
    r6  ACME  +6591234567   roaming      50 s   0.5000  (attribute roaming=true)
    r7  ACME  1234          short code   60 s   0.1000  (unknown, no country)
    r8  ACME  +60387654321  on-net      600 s   1.0000  (WHOLE's number)
    r9  ACME  +60323856700  inbound     300 s   0.5000
    r10 ACME  +60323856789  NO ANSWER    30 s   0
    r11 WHOLE +60323856789  wholesale  1200 s   2.0000
    r12 ACME  data 50 MB                        0.5000
    r13 NOBODY              unmatched    90 s   (pending exception)

Voice: 11 records, 10 answered, 3420 s, gross 6.90, credits 0.20, net 6.70, tax 8% 0.536.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import Engine, bindparam, select, update

from ratebook.billing.tax import Treatment
from ratebook.errors import ConfigError, ConflictError, InputError
from ratebook.pipeline.destinations import stored_kind
from ratebook.store.tables import audit_log, invoices, rated_charges, usage_records
from ratebook.workflows import disputes, resolve_dispute
from ratebook.workflows.billing_setup import set_policy, set_tax
from ratebook.workflows.close_cycle import close_cycle
from ratebook.workflows.file_report import file_report, verify_filing
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.purge_retention import purge_retention
from ratebook.workflows.report_regulatory import build_report, write_report
from ratebook.workflows.verify_audit import verify_audit
from tests.conftest import write
from tests.support.pdf_text import overlaps, text_runs

TABLE = """
name: flat
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-01-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 1s/1s}
      - {prefix: "65", destination: Singapore, price: "0.6000", increment: 1s/1s}
      - {prefix: "*", destination: Other, price: "0.1000", increment: 1s/1s}
      - {service: data, destination: Data, price: "0.0100", per: 1MB, increment: 1MB/1MB}
"""
CUSTOMERS = """account,name,rate_table,numbers,segment
ACME,Acme,flat,+60312340001,retail
WHOLE,Whole Carrier,flat,+60387654321,wholesale
"""
HEADER = (
    "record_id,start_time,quantity,account,destination,service,unit,disposition,direction,roaming\n"
)
OCTOBER = """r1,2026-10-01T10:00:00+08:00,600,ACME,+60323856789,voice,s,ANSWERED,,
r2,2026-10-02T10:00:00+08:00,300,ACME,+60123456789,voice,s,,outbound,
r3,2026-10-03T10:00:00+08:00,120,ACME,+601800123456,voice,s,,,
r4,2026-10-04T10:00:00+08:00,60,ACME,+601600123456,voice,s,,,
r5,2026-10-05T10:00:00+08:00,100,ACME,+6561234567,voice,s,,,
r6,2026-10-06T10:00:00+08:00,50,ACME,+6591234567,voice,s,,,true
r7,2026-10-07T10:00:00+08:00,60,ACME,1234,voice,s,,,
r8,2026-10-08T10:00:00+08:00,600,ACME,+60387654321,voice,s,,,
r9,2026-10-09T10:00:00+08:00,300,ACME,+60323856700,voice,s,,Inbound,
r10,2026-10-10T10:00:00+08:00,30,ACME,+60323856789,voice,s,NO ANSWER,,
r11,2026-10-11T10:00:00+08:00,1200,WHOLE,+60323856789,voice,s,,,
r12,2026-10-12T10:00:00+08:00,50,ACME,,data,MB,,,
r13,2026-10-13T10:00:00+08:00,90,NOBODY,+60323856789,voice,s,,,
"""

#: The report of October as filed, every cell worked out by hand (see the module's notes).
COLUMNS = (
    "section,service,direction,category,country,segment,unit,"
    "records,answered,quantity,billed_quantity,gross,credits,net,tax,weight,weighted,code\n"
)
EXPECTED = (
    COLUMNS
    + """line,data,outbound,none,,retail,B,1,1,50000000,50000000,0.50,0.00,0.50,0.00,,,
line,voice,inbound,domestic_fixed,MY,retail,s,1,1,300,300,0.50,0.00,0.50,0.04,,,
line,voice,on_net,domestic_fixed,MY,retail,s,1,1,600,600,1.00,0.00,1.00,0.08,,,
line,voice,outbound,domestic_fixed,MY,retail,s,2,1,630,600,1.00,0.00,1.00,0.08,,,
line,voice,outbound,domestic_fixed,MY,wholesale,s,1,1,1200,1200,2.00,0.00,2.00,0.16,,,
line,voice,outbound,domestic_mobile,MY,retail,s,1,1,300,300,0.50,0.20,0.30,0.024,,,
line,voice,outbound,international,SG,retail,s,1,1,100,100,1.00,0.00,1.00,0.08,,,
line,voice,outbound,premium,MY,retail,s,1,1,60,60,0.10,0.00,0.10,0.008,,,
line,voice,outbound,roaming,SG,retail,s,1,1,50,50,0.50,0.00,0.50,0.04,,,
line,voice,outbound,toll_free,MY,retail,s,1,1,120,120,0.20,0.00,0.20,0.016,,,
line,voice,outbound,unknown,,retail,s,1,1,60,60,0.10,0.00,0.10,0.008,,,
total,,,,,,B,1,1,50000000,50000000,0.50,0.00,0.50,0.00,,,
total,,,,,,s,11,10,3420,3390,6.90,0.20,6.70,0.536,,,
pending,,,,,,s,1,,90,,,,,,,,UNMATCHED_CUSTOMER
"""
)


def _october(engine: Engine, tmp_path: Path) -> None:
    import_rate_table(engine, write(tmp_path / "flat.yaml", TABLE))
    import_customers(engine, write(tmp_path / "c.csv", CUSTOMERS))
    set_tax(engine, "voice", rate="8", treatment=Treatment.STANDARD, label="SST")
    import_feed(engine, write(tmp_path / "oct.csv", HEADER + OCTOBER), format_name="generic")
    disputes.open_dispute(engine, disputes.Subject(record_id="r2"), "the call dropped")
    resolve_dispute.resolve(engine, 1, outcome="upheld", credit="0.20", note="dropped at 3 min")
    close_cycle(engine, "2026-10")


def test_the_october_report_is_every_cell_as_worked_by_hand(
    my_engine: Engine, tmp_path: Path
) -> None:
    _october(my_engine, tmp_path)
    built = build_report(my_engine, period="2026-10")
    assert built.csv.decode("utf-8") == EXPECTED
    r = built.computed.reconciliation
    # the invoices hold every ringgit of October's usage: 6.90 voice + 0.50 data
    assert (r.gross, r.invoiced, r.open, r.credits, r.ledger_credits) == (
        7_400_000,
        7_400_000,
        0,
        200_000,
        200_000,
    )
    assert r.holds
    # the same store gives the same bytes
    assert build_report(my_engine, period="2026-10").csv == built.csv


def test_a_weighted_profile_sums_weighted_revenue(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    profile = write(
        tmp_path / "mine.yaml",
        """profile: mine
version: "1"
title: Weighted by category
group_by: [category]
weights: {domestic_fixed: "1", domestic_mobile: "0.5", premium: "2"}
threshold: "4.00"
contribution_rate: "0.1"
""",
    )
    built = build_report(my_engine, period="2026-10", profile=str(profile))
    rows = {
        (r["category"], r["unit"]): r
        for r in csv.DictReader(io.StringIO(built.csv.decode("utf-8")))
        if r["section"] == "line"
    }
    # domestic fixed: 0.50 inbound + 1.00 on-net + 1.00 + 2.00 wholesale = 4.50, weight 1
    assert (rows["domestic_fixed", "s"]["net"], rows["domestic_fixed", "s"]["weighted"]) == (
        "4.50",
        "4.50",
    )
    # mobile net 0.30 at a half: 0.15; premium 0.10 twice: 0.20; international unweighted
    assert rows["domestic_mobile", "s"]["weighted"] == "0.15"
    assert rows["premium", "s"]["weighted"] == "0.20"
    assert (rows["international", "s"]["weight"], rows["international", "s"]["weighted"]) == (
        "0",
        "0.00",
    )
    # 4.85 weighted is over the 4.00 threshold: a tenth of it is contributed
    assert built.computed.weighted == 4_850_000 * 10**6
    assert built.computed.contribution == 4_850_000 * 10**6 * 100_000


def test_late_usage_after_filing_makes_an_amendment(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    original = file_report(my_engine, period="2026-10")
    assert (original.filing.revision, original.filing.amends_id) == (0, None)
    with pytest.raises(ConflictError) as again:
        file_report(my_engine, period="2026-10")
    assert again.value.code == "REPORT_ALREADY_FILED"

    # a call of 20 October arrives after the close: 300 s, 0.5000, billed late in November
    late = "r14,2026-10-20T10:00:00+08:00,300,ACME,+60323856789,voice,s,,,\n"
    import_feed(my_engine, write(tmp_path / "late.csv", HEADER + late), format_name="generic")
    amendment = file_report(my_engine, period="2026-10")
    assert (amendment.filing.revision, amendment.filing.amends_id) == (1, original.filing.id)
    r = amendment.built.computed.reconciliation
    assert (r.invoiced, r.open) == (7_400_000, 500_000)  # the late call is not invoiced yet
    changed = {(d.key, d.column): (d.before, d.after) for d in amendment.differences}
    fixed = ("line", "voice", "outbound", "domestic_fixed", "MY", "retail", "s", "")
    total = ("total", "", "", "", "", "", "s", "")
    assert changed == {
        (fixed, "records"): ("2", "3"),
        (fixed, "answered"): ("1", "2"),
        (fixed, "quantity"): ("630", "930"),
        (fixed, "billed_quantity"): ("600", "900"),
        (fixed, "gross"): ("1.00", "1.50"),
        (fixed, "net"): ("1.00", "1.50"),
        (fixed, "tax"): ("0.08", "0.12"),
        (total, "records"): ("11", "12"),
        (total, "answered"): ("10", "11"),
        (total, "quantity"): ("3420", "3720"),
        (total, "billed_quantity"): ("3390", "3690"),
        (total, "gross"): ("6.90", "7.40"),
        (total, "net"): ("6.70", "7.20"),
        (total, "tax"): ("0.536", "0.576"),
    }
    # the original no longer matches the ledger; its amendment does
    assert not verify_filing(my_engine, original.filing.id).matches
    assert verify_filing(my_engine, amendment.filing.id).matches


def test_a_changed_ledger_row_fails_verification(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    filed = file_report(my_engine, period="2026-10")
    assert verify_filing(my_engine, filed.filing.id).matches
    with my_engine.begin() as conn:
        first = conn.execute(select(rated_charges.c.id).order_by(rated_charges.c.id)).scalar()
        conn.execute(
            update(rated_charges).where(rated_charges.c.id == first).values(charge=1_100_000)
        )
    verdict = verify_filing(my_engine, filed.filing.id)
    assert not verdict.matches
    assert verdict.filing.name.startswith(f"report {filed.filing.id} (2026-10, generic@1.0")
    assert any("ledger rows it was built from changed" in p for p in verdict.problems)
    # put it back, so the story's ledger checks hold
    with my_engine.begin() as conn:
        conn.execute(
            update(rated_charges).where(rated_charges.c.id == first).values(charge=1_000_000)
        )
    assert verify_filing(my_engine, filed.filing.id).matches


def test_the_invoice_basis_reads_the_invoices_issued_in_the_month(
    my_engine: Engine, tmp_path: Path
) -> None:
    _october(my_engine, tmp_path)
    with my_engine.connect() as conn:
        issued = conn.execute(select(invoices.c.issued_at)).scalars().first()
    assert issued is not None
    month = f"{issued.astimezone(ZoneInfo('Asia/Kuala_Lumpur')):%Y-%m}"
    built = build_report(my_engine, period=month, basis="invoice")
    r = built.computed.reconciliation
    assert (r.gross, r.invoiced, r.credits, r.ledger_credits) == (
        7_400_000,
        7_400_000,
        200_000,
        200_000,
    )
    assert r.holds


def test_the_files_read_back(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    built = build_report(my_engine, period="2026-10")
    paths = write_report(built, tmp_path / "out")
    assert paths["csv"].read_bytes() == EXPECTED.encode()
    sheet = load_workbook(paths["xlsx"])["Detail"]
    header = [c.value for c in sheet[1]]
    mobile = next(r for r in sheet.iter_rows(min_row=2) if r[3].value == "domestic_mobile")
    values = dict(zip(header, (c.value for c in mobile), strict=True))
    # numbers as numbers, the money shown to the sen
    assert values["records"] == 1
    assert Decimal(str(values["net"])) == Decimal("0.30")
    assert Decimal(str(values["tax"])) == Decimal("0.024")
    assert mobile[header.index("net")].number_format == "#,##0.00"
    text = "".join(page.extract_text() for page in PdfReader(paths["pdf"]).pages)
    for shown in ("Test Telco Sdn Bhd (MY1)", "2026-10", "generic@1.0", built.inputs_sha256):
        assert shown in text
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["files"]["report.csv"] == built.csv_sha256
    assert manifest["reconciliation"]["reconciled"] is True


def test_a_bad_profile_names_its_key(my_engine: Engine, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.yaml",
        'profile: bad\nversion: "1"\ntitle: Bad\ngroup_by: [category]\nweights: {premium: 0.5}\n',
    )
    with pytest.raises(InputError) as refused:
        build_report(my_engine, period="2026-10", profile=str(bad))
    assert (refused.value.code, refused.value.field) == ("BAD_PROFILE", "weights.premium")
    with pytest.raises(InputError) as unknown:
        build_report(my_engine, period="2026-10", profile="nope")
    assert unknown.value.code == "UNKNOWN_PROFILE"


def test_a_retention_purge_keeps_the_ledger_keys_and_audit_whole(
    my_engine: Engine, tmp_path: Path
) -> None:
    _october(my_engine, tmp_path)
    filed = file_report(my_engine, period="2026-10")
    with pytest.raises(ConfigError) as unset:
        purge_retention(my_engine, apply=False)
    assert unset.value.code == "RETENTION_NOT_SET"
    set_policy(my_engine, retention_months=18)
    # in May 2028, 18 months kept reach back to November 2026: October goes, but for the
    # unmatched call whose exception still waits for review
    may = datetime(2028, 5, 15, tzinfo=UTC)
    dry = purge_retention(my_engine, apply=False, now=may)
    assert (dry.first_kept, dry.records, dry.kept_for_review, dry.applied) == (
        "2026-11",
        12,
        1,
        False,
    )
    done = purge_retention(my_engine, apply=True, now=may)
    assert (done.records, done.applied) == (12, True)
    with my_engine.connect() as conn:
        r = usage_records.c
        kept = conn.execute(
            select(r.record_id, r.raw, r.caller, r.destination, r.attributes, r.quantity)
            .where(r.record_id.in_(("r1", "r13")))
            .order_by(r.record_id)
        ).all()
        entry = conn.execute(
            select(audit_log.c.after).where(audit_log.c.action == "retention.purge")
        ).scalar_one()
    assert [tuple(k) for k in kept] == [
        ("r1", None, None, None, None, 600_000),
        ("r13", kept[1].raw, None, "+60323856789", kept[1].attributes, 90_000),
    ]
    assert kept[1].raw is not None  # the reviewer still has the row to correct
    assert json.loads(entry)["records"] == 12
    # the ledger, the seals and the chain still hold
    assert verify_audit(my_engine, deep=True).findings == []
    # a purged record's key is kept: the same call sent again is still a duplicate
    again = import_feed(
        my_engine,
        write(tmp_path / "again.csv", HEADER + OCTOBER.splitlines()[0] + "\n"),
        format_name="generic",
    )
    assert (again.duplicates, again.rated) == (1, 0)
    # the filed report stands as filed, but cannot be recomputed from the purged records
    verdict = verify_filing(my_engine, filed.filing.id)
    assert verdict.purged == 12
    assert not verdict.matches
    # nothing left to purge
    assert purge_retention(my_engine, apply=True, now=may).records == 0


def test_a_record_marked_purged_without_a_purge_is_found(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    r = usage_records.c
    with my_engine.begin() as conn:
        conn.execute(
            update(usage_records)
            .where(r.record_id == "r5")
            .values(destination=None, purged_at=datetime(2027, 1, 1, tzinfo=UTC))
        )
    findings = verify_audit(my_engine, deep=True).findings
    assert [f.code for f in findings] == ["RECORD_ALTERED"]
    assert "no retention purge on record" in findings[0].detail
    with my_engine.begin() as conn:
        conn.execute(
            update(usage_records)
            .where(r.record_id == "r5")
            .values(destination="+6561234567", purged_at=None)
        )


def test_the_pdf_lines_never_overlap(my_engine: Engine, tmp_path: Path) -> None:
    _october(my_engine, tmp_path)
    for profile in ("generic", "mcmc-usp", "fcc-499"):
        built = build_report(my_engine, period="2026-10", profile=profile)
        paths = write_report(built, tmp_path / profile)
        pages = text_runs(paths["pdf"])
        assert any(text == "Lines" for runs in pages for _, _, text, _ in runs)
        for runs in pages:
            assert overlaps(runs) == [], profile


def test_records_stored_without_their_destinations_kind_report_the_same(
    my_engine: Engine, tmp_path: Path
) -> None:
    # records stored before imports worked out each destination's region and type are read
    # one by one and their numbers classified as the report reads them
    _october(my_engine, tmp_path)
    r = usage_records.c
    with my_engine.begin() as conn:
        conn.execute(
            update(usage_records)
            .where(r.record_id.in_(("r1", "r3", "r5", "r6", "r8", "r11")))
            .values(destination_region=None, destination_type=None)
        )
    assert build_report(my_engine, period="2026-10").csv.decode("utf-8") == EXPECTED
    for profile in ("mcmc-usp", "fcc-499"):
        mixed = build_report(my_engine, period="2026-10", profile=profile).csv
        with my_engine.begin() as conn:
            typed = [
                (n, *stored_kind(d).values())
                for n, d in conn.execute(select(r.id, r.destination)).all()
            ]
            conn.execute(
                update(usage_records)
                .where(r.id == bindparam("pk"))
                .values(destination_region=bindparam("region"), destination_type=bindparam("kind")),
                [{"pk": n, "region": g, "kind": k} for n, g, k in typed],
            )
        assert build_report(my_engine, period="2026-10", profile=profile).csv == mixed
