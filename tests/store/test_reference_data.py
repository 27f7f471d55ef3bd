"""Customers and rate decks: effective dating, idempotent re-import, located refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ratebook.errors import InputError, NotFoundError
from ratebook.model.tariffs import ROW_SCHEMA
from ratebook.store import tariffs
from ratebook.store.entities import get_entity
from ratebook.store.frames import query_frame
from ratebook.workflows import report_usage
from ratebook.workflows.customer_accounts import show_customer
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rate_table import import_rate_table
from ratebook.workflows.import_rates import column_map, import_rates
from tests.conftest import write

DECK = "prefix,destination,rate\n60,Malaysia,0.0300\n"
FEED_HEADER = "record_id,start_time,quantity,caller,destination\n"


def _deck(
    engine: Engine, tmp: Path, text: str = DECK, date: str = "2026-01-01", name: str = "standard"
) -> None:
    import_rates(engine, write(tmp / f"deck-{date}.csv", text), name=name, effective_from=date)


def test_reassigned_number_bills_each_owner_for_their_days(
    my_engine: Engine, tmp_path: Path
) -> None:
    _deck(my_engine, tmp_path)
    customers = (
        "account,name,rate_table,numbers,valid_from,valid_to\n"
        "OLD,Old Owner,standard,+60321110000,,2026-10-15\n"
        "NEW,New Owner,standard,+60321110000,2026-10-15,\n"
    )
    result = import_customers(my_engine, write(tmp_path / "c.csv", customers))
    assert (result.customers_created, result.identifiers_added) == (2, 2)
    feed = (
        FEED_HEADER
        + "a,2026-10-14T23:59:59+08:00,60,+60321110000,+60312345678\n"
        + "b,2026-10-15T00:00:00+08:00,60,+60321110000,+60312345678\n"
    )
    import_feed(my_engine, write(tmp_path / "f.csv", feed), format_name="generic")
    balances = {b.account: b.charge for b in report_usage.balances(my_engine, "2026-10")}
    assert balances == {"OLD": "0.0300", "NEW": "0.0300"}


def test_customers_reimport_changes_nothing(my_engine: Engine, tmp_path: Path) -> None:
    _deck(my_engine, tmp_path)
    path = write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,standard,+6031*\n")
    import_customers(my_engine, path)
    again = import_customers(my_engine, path)
    assert (again.customers_created, again.identifiers_added, again.assignments_added) == (0, 0, 0)


def test_a_customer_over_several_lines_takes_each_and_its_last_name(
    my_engine: Engine, tmp_path: Path
) -> None:
    """Lines of one account add up, in file order: its number, a table until the 15th and
    another from then on; the last line's name is the customer's."""
    _deck(my_engine, tmp_path)
    _deck(my_engine, tmp_path, "prefix,destination,rate\n60,Malaysia,0.0100\n", name="cheap")
    customers = (
        "account,name,rate_table,numbers,valid_from,valid_to\n"
        "A,Old Name,standard,+60321110000,,2026-10-15\n"
        "A,New Name,cheap,,2026-10-15,\n"
    )
    result = import_customers(my_engine, write(tmp_path / "c.csv", customers))
    assert (result.customers_created, result.identifiers_added, result.assignments_added) == (
        1,
        1,
        2,
    )
    _, customer, identifiers = show_customer(my_engine, "A")
    assert customer["name"] == "New Name"
    assert sorted((i.kind, i.value) for i in identifiers) == [
        ("account", "A"),
        ("number", "+60321110000"),
    ]
    feed = (
        "record_id,start_time,quantity,account,destination\n"
        "a,2026-10-14T23:59:59+08:00,60,A,+60312345678\n"
        "b,2026-10-15T00:00:00+08:00,60,A,+60312345678\n"
    )
    import_feed(my_engine, write(tmp_path / "f.csv", feed), format_name="generic")
    # 0.0300 on the standard table, then 0.0100 on the cheap one
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.0400"]


def test_importing_again_renames_a_customer_and_adds_nothing_else(
    my_engine: Engine, tmp_path: Path
) -> None:
    import_customers(
        my_engine, write(tmp_path / "a.csv", "account,name,rate_table,numbers\nA,Alpha,,\n")
    )
    again = import_customers(
        my_engine, write(tmp_path / "b.csv", "account,name,rate_table,numbers\nA,Alpha Sdn Bhd,,\n")
    )
    assert (again.customers_created, again.identifiers_added, again.assignments_added) == (0, 0, 0)
    assert show_customer(my_engine, "A")[1]["name"] == "Alpha Sdn Bhd"


def test_a_number_a_stored_customer_holds_is_refused_to_another(
    my_engine: Engine, tmp_path: Path
) -> None:
    import_customers(
        my_engine, write(tmp_path / "a.csv", "account,name,rate_table,numbers\nA,A,,+60321110000\n")
    )
    later = "account,name,rate_table,numbers,valid_from\nB,B,,0321110000,2027-01-01\n"
    with pytest.raises(InputError) as caught:
        import_customers(my_engine, write(tmp_path / "b.csv", later))
    assert (caught.value.code, caught.value.line) == ("NUMBER_TAKEN", 2)
    assert "+60321110000 already belongs to customer A" in str(caught.value)
    with pytest.raises(NotFoundError):
        show_customer(my_engine, "B")  # nothing of the refused file was kept


def test_number_owned_by_two_customers_at_once_is_refused(
    my_engine: Engine, tmp_path: Path
) -> None:
    text = "account,name,rate_table,numbers\nA,A,,+60321110000\nB,B,,0321110000\n"
    with pytest.raises(InputError) as caught:
        import_customers(my_engine, write(tmp_path / "c.csv", text))
    assert (caught.value.code, caught.value.line, caught.value.field) == (
        "NUMBER_TAKEN",
        3,
        "numbers",
    )
    assert report_usage.balances(my_engine, "2026-10") == []  # nothing was imported


def test_unknown_rate_table_is_located(my_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        import_customers(
            my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,gold,\n")
        )
    assert (caught.value.code, caught.value.line, caught.value.field) == (
        "UNKNOWN_RATE_TABLE",
        2,
        "rate_table",
    )


def test_new_version_prices_calls_from_its_date(my_engine: Engine, tmp_path: Path) -> None:
    _deck(my_engine, tmp_path, date="2026-10-01")
    _deck(my_engine, tmp_path, "prefix,destination,rate\n60,Malaysia,0.0500\n", "2026-10-15")
    import_customers(
        my_engine,
        write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,standard,+6032*\n"),
    )
    feed = (
        FEED_HEADER
        + "a,2026-10-14T23:59:59+08:00,60,+60321110000,+60312345678\n"
        + "b,2026-10-15T00:00:00+08:00,60,+60321110000,+60312345678\n"
    )
    import_feed(my_engine, write(tmp_path / "f.csv", feed), format_name="generic")
    # 0.0300 under the first version + 0.0500 under the second
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.0800"]


def test_a_version_is_never_edited(my_engine: Engine, tmp_path: Path) -> None:
    _deck(my_engine, tmp_path, date="2026-10-01")
    same = import_rates(
        my_engine, tmp_path / "deck-2026-10-01.csv", name="standard", effective_from="2026-10-01"
    )
    assert not same.created
    with pytest.raises(InputError) as caught:
        import_rates(
            my_engine,
            write(tmp_path / "other.csv", "prefix,destination,rate\n60,M,0.9\n"),
            name="standard",
            effective_from="2026-10-01",
        )
    assert caught.value.code == "VERSION_EXISTS"


@pytest.mark.parametrize(
    ("deck", "code", "line", "field"),
    [
        ("prefix,destination,rate\n60,M,abc\n", "NOT_A_NUMBER", 2, "rate"),
        ("prefix,destination,rate\n6x,M,0.1\n", "BAD_PREFIX", 2, "prefix"),
        ("prefix,destination,rate\n60,M,0.1\n60,N,0.2\n", "DUPLICATE_PREFIX", 3, "prefix"),
        ("prefix,destination\n60,M\n", "MISSING_COLUMN", 1, "rate"),
        ("prefix,destination,rate,increment\n60,M,0.1,60\n", "BAD_INCREMENT", 2, "increment"),
        # a misspelt optional column would leave every call under-priced
        (
            "prefix,destination,rate,connect_fees\n60,M,0.1,0.5\n",
            "UNKNOWN_COLUMN",
            1,
            "connect_fees",
        ),
        ("prefix,destination,rate,Rate\n60,M,0.1,0.2\n", "DUPLICATE_COLUMN", 1, "rate"),
    ],
)
def test_deck_errors_are_located(
    my_engine: Engine, tmp_path: Path, deck: str, code: str, line: int, field: str
) -> None:
    with pytest.raises(InputError) as caught:
        import_rates(
            my_engine, write(tmp_path / "d.csv", deck), name="t", effective_from="2026-10-01"
        )
    assert (caught.value.code, caught.value.line, caught.value.field) == (code, line, field)


@pytest.mark.parametrize(
    ("deck", "code"),
    [(None, "FILE_NOT_FOUND"), (b"prefix,destination,rate\n60,Caf\xe9,0.1\n", "NOT_UTF8")],
)
def test_a_table_s_unreadable_deck_is_named(
    my_engine: Engine, tmp_path: Path, deck: bytes | None, code: str
) -> None:
    if deck is not None:
        (tmp_path / "m.csv").write_bytes(deck)
    table = write(
        tmp_path / "t.yaml",
        "name: t\nversions:\n  - effective_from: 2026-10-01\n    deck: m.csv\n",
    )
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, table)
    assert (caught.value.code, caught.value.path) == (code, str(tmp_path / "m.csv"))


def test_an_unknown_column_is_named_with_the_nearest_known_one(
    my_engine: Engine, tmp_path: Path
) -> None:
    deck = write(tmp_path / "d.csv", "prefix,destination,rate,connect_fees\n60,M,0.1,0.5\n")
    with pytest.raises(InputError) as caught:
        import_rates(my_engine, deck, name="t", effective_from="2026-10-01")
    assert "did you mean 'connect_fee'?" in str(caught.value)


def test_a_table_s_deck_with_an_unknown_column_is_refused(
    my_engine: Engine, tmp_path: Path
) -> None:
    """Even where the misspelt column is empty in every row, which no row check would see."""
    write(tmp_path / "m.csv", "prefix,destination,rate,minimum_charg\n60,M,0.1,\n")
    table = write(
        tmp_path / "t.yaml",
        "name: t\nversions:\n  - effective_from: 2026-10-01\n    deck: m.csv\n",
    )
    with pytest.raises(InputError) as caught:
        import_rate_table(my_engine, table)
    assert (caught.value.code, caught.value.line, caught.value.field) == (
        "UNKNOWN_COLUMN",
        1,
        "minimum_charg",
    )


def test_a_deck_under_its_own_column_names_prices_as_the_documented_one(
    my_engine: Engine, tmp_path: Path
) -> None:
    """ASTPP's export names its columns Code, Destination, Cost and Connectcost: mapped, the
    deck prices calls exactly as the same rates under Ratebook's names."""
    astpp = write(
        tmp_path / "astpp.csv",
        "Code,Destination,Cost,Connectcost\n60,Malaysia,0.0300,0.0500\n",
    )
    import_rates(
        my_engine,
        astpp,
        name="standard",
        effective_from="2026-01-01",
        columns=column_map("prefix=Code,destination=Destination,rate=Cost,connect_fee=Connectcost"),
    )
    import_customers(
        my_engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,standard,\n")
    )
    feed = (
        "record_id,start_time,quantity,account,destination\n"
        "c1,2026-10-05T10:00:00+08:00,90,A,+60312345678\n"
    )
    import_feed(my_engine, write(tmp_path / "f.csv", feed), format_name="generic")
    # 90 s billed as 2 minutes (60/60 increments) at 0.0300, plus the 0.0500 connect fee
    assert [b.charge for b in report_usage.balances(my_engine, "2026-10")] == ["0.1100"]


@pytest.mark.parametrize("text", ["prefix", "pfx=Code", "prefix=", "rate=Cost,=X"])
def test_a_column_map_that_is_not_column_equals_header_is_refused(text: str) -> None:
    with pytest.raises(InputError) as caught:
        column_map(text)
    assert (caught.value.code, caught.value.path) == ("BAD_COLUMN_MAP", "--columns")


def test_rate_rows_read_by_the_driver_are_what_sqlalchemy_reads(
    my_engine: Engine, tmp_path: Path
) -> None:
    # rows with and without tiers, caps, grace, included seconds, steps of increment and a
    # name beyond ASCII: the driver's own values, column by column, match SQLAlchemy's
    table = """
name: carrier
currency: MYR
timezone: Asia/Kuala_Lumpur
rounding: {places: 4, mode: half-up}
versions:
  - effective_from: 2026-10-01
    rows:
      - {prefix: "60", destination: Malaysia, price: "0.1000", increment: 60/60,
         connect_fee: "0.0500", max_cost: "1.0000", grace: 3s}
      - {prefix: "65", destination: Singapore, price: "0.2000", max_cost: "1.5000",
         tiers: {kind: graduated, steps: [{after: 10min, price: "0.1000"}]}}
      - {prefix: "225", destination: "Côte d'Ivoire", price: "0.1200", increment: 6/6,
         included: 30s}
"""
    import_rate_table(my_engine, write(tmp_path / "t.yaml", table), entity_code="MY1")
    with my_engine.connect() as conn:
        entity = get_entity(conn, "MY1")
        driven = tariffs.load_rows(conn, entity.id)
        usual = query_frame(conn, tariffs.rows_statement(entity.id), ROW_SCHEMA)
    assert driven.schema == usual.schema
    assert driven.sort("prefix").rows() == usual.sort("prefix").rows()
    by_prefix = {row["prefix"]: row for row in driven.iter_rows(named=True)}
    assert by_prefix["225"]["destination_name"] == "Côte d'Ivoire"
    assert by_prefix["60"]["grace"] == 3_000  # 3 s at QUANTITY_SCALE
    assert by_prefix["65"]["tiers"] is not None
    assert by_prefix["60"]["tiers"] is None
