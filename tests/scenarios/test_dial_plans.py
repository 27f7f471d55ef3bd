"""Numbers as switches write them: an entity's own international and national prefixes, and
short codes and extensions priced as destinations of their own (``short:`` rate rows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import InputError
from ratebook.model.review import Filter
from ratebook.store.tables import rated_charges, usage_records
from ratebook.workflows import billing_setup
from ratebook.workflows import review_exceptions as review
from ratebook.workflows.import_customers import import_customers
from ratebook.workflows.import_feed import import_feed
from ratebook.workflows.import_rates import import_rates
from ratebook.workflows.quote_in_cycle import quote_in_cycle
from tests.conftest import write

DECK = """prefix,destination,rate
60,Malaysia,0.0300
65,Singapore,0.2000
short:999,Emergency,0.0000
short:15*,Premium services,0.6000
short:1001,Reception,0.0100
"""


def _setup(engine: Engine, tmp_path: Path) -> None:
    import_rates(
        engine, write(tmp_path / "deck.csv", DECK), name="pbx", effective_from="2026-01-01"
    )
    import_customers(
        engine, write(tmp_path / "c.csv", "account,name,rate_table,numbers\nA,A,pbx,\n")
    )


def _calls(tmp_path: Path, name: str, destinations: list[str]) -> Path:
    lines = ["record_id,start_time,quantity,account,destination"]
    lines += [
        f"{name}-{n},2026-10-05T10:0{n}:00+08:00,60,A,{to}" for n, to in enumerate(destinations)
    ]
    return write(tmp_path / f"{name}.csv", "\n".join(lines) + "\n")


def _priced(engine: Engine, prefix: str) -> dict[str, tuple[str | None, int | None]]:
    """Each record of the batch whose ids start with ``prefix``: its stored destination and
    charge (AMOUNT_SCALE: millionths), None where it has no charge."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage_records.c.record_id, usage_records.c.destination, rated_charges.c.charge)
            .select_from(
                usage_records.outerjoin(
                    rated_charges,
                    (rated_charges.c.record_pk == usage_records.c.id)
                    & rated_charges.c.superseded_by.is_(None),
                )
            )
            .where(usage_records.c.record_id.startswith(prefix))
        ).all()
    return {record_id: (destination, amount) for record_id, destination, amount in rows}


def test_short_codes_and_extensions_are_destinations_of_their_own(
    my_engine: Engine, tmp_path: Path
) -> None:
    _setup(my_engine, tmp_path)
    calls = _calls(tmp_path, "s", ["999", "15888", "1001", "10012", "*97"])
    result = import_feed(my_engine, calls)
    assert (result.tally.rated, result.tally.exceptions) == (3, 2)
    # one minute each: 999 is free, 15888 starts with 15 (RM0.6000), 1001 is the reception
    # exactly (RM0.0100); 10012 is not 1001 and *97 has no row (NO_RATE)
    assert _priced(my_engine, "s-") == {
        "s-0": ("999", 0),
        "s-1": ("15888", 600_000),
        "s-2": ("1001", 10_000),
        "s-3": ("10012", None),
        "s-4": ("*97", None),
    }
    assert sorted(x["code"] for x in review.list_exceptions(my_engine, Filter())) == [
        "NO_RATE",
        "NO_RATE",
    ]
    # a quote (the scalar path) agrees, and names the row as the deck writes it
    quoted = quote_in_cycle(
        my_engine,
        [
            {
                "record_id": "q-1",
                "start_time": "2026-10-05T11:00:00+08:00",
                "quantity": "60",
                "account": "A",
                "destination": "15888",
            }
        ],
    )
    (answer,) = quoted.results
    assert (answer.charge, answer.prefix) == ("0.6000", "short:15*")


def test_a_short_code_row_is_checked_when_the_deck_is_read(
    my_engine: Engine, tmp_path: Path
) -> None:
    deck = write(tmp_path / "bad.csv", "prefix,destination,rate\nshort:9a9,Odd,0.1\n")
    with pytest.raises(InputError) as raised:
        import_rates(my_engine, deck, name="bad", effective_from="2026-01-01")
    assert (raised.value.code, raised.value.line, raised.value.field) == ("BAD_PREFIX", 2, "prefix")


def test_an_entity_s_own_international_prefix(my_engine: Engine, tmp_path: Path) -> None:
    """A PBX that dials abroad with 011: in Malaysia, 011 also begins national mobile
    numbers, so by the region's plan 0116512345678 is a Malaysian number; with 011 as the
    switches' international prefix it is Singapore."""
    _setup(my_engine, tmp_path)
    import_feed(my_engine, _calls(tmp_path, "m", ["0116512345678"]))
    assert _priced(my_engine, "m-") == {"m-0": ("+60116512345678", 30_000)}
    found = billing_setup.set_policy(my_engine, international_prefixes=["00", "011"])
    assert found.international_prefixes == ("00", "011")
    assert billing_setup.dial_prefixes(found) == ("0", "00 or 011")
    import_feed(my_engine, _calls(tmp_path, "i", ["0116512345678", "006512345679"]))
    # one minute to Singapore each, at RM0.2000
    assert _priced(my_engine, "i-") == {
        "i-0": ("+6512345678", 200_000),
        "i-1": ("+6512345679", 200_000),
    }
    # back to the region's plan
    reset = billing_setup.set_policy(my_engine, no_dial_plan=True)
    assert (reset.international_prefixes, reset.national_prefix) == ((), None)


def test_a_dial_prefix_must_be_digits(my_engine: Engine) -> None:
    with pytest.raises(InputError) as raised:
        billing_setup.set_policy(my_engine, international_prefixes=["+"])
    assert (raised.value.code, raised.value.path) == ("BAD_PREFIX", "--international-prefix")
