"""Seeded generation of a realistic month of telephony usage: a rate deck, customers with DID
blocks, and Asterisk ``Master.csv`` files with a few percent of duplicates, unknown callers,
unrated destinations, conflicting ids and malformed rows. Used by ``ratebook demo`` and the
benchmark; the same seed gives the same bytes."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import geocoder

ASTERISK_FIELDS = range(18)  # written with uniqueid and userfield
#: The zone the demo's switch writes its times in (the demo entity's).
SWITCH_ZONE = ZoneInfo("Asia/Kuala_Lumpur")

_MY_AREAS = {
    "3": "Kuala Lumpur & Selangor",
    "4": "Penang & Kedah",
    "5": "Perak",
    "6": "Melaka & N.Sembilan",
    "7": "Johor",
    "8": "Sabah & Sarawak",
    "9": "Kelantan, Terengganu & Pahang",
}
_MY_MOBILE = {
    "10": "Digi",
    "11": "Various",
    "12": "Maxis",
    "13": "Celcom",
    "14": "Various",
    "15": "VoIP",
    "16": "Digi",
    "17": "Maxis",
    "18": "U Mobile",
    "19": "Celcom",
}
_WORDS_A = [
    "Bayu",
    "Cahaya",
    "Delima",
    "Emas",
    "Gemilang",
    "Harapan",
    "Indah",
    "Jaya",
    "Kencana",
    "Lestari",
    "Mutiara",
    "Nusa",
    "Perdana",
    "Rimba",
    "Sinar",
    "Teguh",
    "Utama",
    "Wira",
]
_WORDS_B = [
    "Logistics",
    "Trading",
    "Clinic",
    "Motors",
    "Properties",
    "Foods",
    "Textiles",
    "Consulting",
    "Travel",
    "Engineering",
    "Hardware",
    "Dental",
    "Realty",
    "Media",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoFiles:
    """Where the generated files are, and what was planted in them (for the demo's story)."""

    deck: Path
    customers: Path
    cdr_files: list[Path]
    rows: int
    planted_duplicates: int
    planted_unknown_callers: int
    planted_malformed: int


def _deck_rows(rng: random.Random) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for digit, area in _MY_AREAS.items():
        rows.append((f"60{digit}", f"Malaysia Fixed ({area})", "0.0300"))
        for sub in range(0, 100, 1):
            if rng.random() < 0.55:
                rows.append(
                    (
                        f"60{digit}{sub:02d}",
                        f"Malaysia Fixed ({area})",
                        f"{rng.choice([0.025, 0.028, 0.03, 0.032]):.4f}",
                    )
                )
    for code, network in _MY_MOBILE.items():
        rows.append(
            (f"60{code}", f"Malaysia Mobile ({network})", f"{rng.choice([0.06, 0.07, 0.08]):.4f}")
        )
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        if region == "MY":
            continue
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        country = geocoder.country_name_for_number(example, "en") or region
        cc = str(example.country_code)
        price = rng.choice([0.05, 0.08, 0.12, 0.18, 0.25, 0.40, 0.65, 0.90, 1.20])
        if cc == "1":  # the North American plan: a country is its area codes
            rows.append(("1", "North America", "0.0500"))
            rows.append((cc + str(example.national_number)[:3], country, f"{price:.4f}"))
        else:
            rows.append((cc, country, f"{price:.4f}"))
        mobile = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if mobile is not None:
            national = str(mobile.national_number)
            # the mobile range's leading digits: in the North American plan a country is
            # its three-digit area codes (+1 809 is the Dominican Republic, +1 807 Canada)
            prefix = cc + national[: 3 if cc == "1" else 2]
            rows.append((prefix, f"{country} Mobile", f"{price * 1.5:.4f}"))
    unique: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        unique.setdefault(row[0], row)
    return sorted(unique.values())


def generate(
    directory: Path,
    *,
    records: int = 200_000,
    customers: int = 200,
    seed: int = 2026,
    year: int = 2026,
    month: int = 10,
) -> DemoFiles:
    """Write ``deck.csv``, ``customers.csv`` and two Asterisk files into ``directory``.

    One function: it writes the demo's files in the order a reader follows them."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    deck = _deck_rows(rng)
    deck_path = directory / "deck.csv"
    with deck_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prefix", "destination", "rate"])
        writer.writerows(deck)

    owners: list[tuple[str, list[str]]] = []  # account -> caller numbers it dials from
    customers_path = directory / "customers.csv"
    with customers_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account", "name", "rate_table", "numbers"])
        # every customer a name of its own (a number after it past the words' combinations)
        names = [f"{a} {b}" for a in _WORDS_A for b in _WORDS_B]
        rng.shuffle(names)
        for index in range(customers):
            account = f"C{index + 1:04d}"
            round_, pick = divmod(index, len(names))
            name = f"{names[pick]}{f' {round_ + 1}' if round_ else ''} Sdn Bhd"
            area = rng.choice(["3", "3", "3", "4", "7", "8"])
            block = f"60{area}{2000 + index:04d}"  # a 100-number DID block
            extra = f"601{rng.randint(0, 9)}{rng.randint(1000000, 9999999)}"
            writer.writerow([account, name, "standard", f"+{block}*;+{extra}"])
            callers = [f"0{area}{2000 + index:04d}{n:02d}" for n in range(rng.randint(2, 12))]
            owners.append((account, [*callers, "0" + extra[2:]]))

    weights = [rng.paretovariate(1.2) for _ in owners]
    my_prefixes = [p for p, _, _ in deck if p.startswith("60")]
    intl_prefixes = [p for p, _, _ in deck if not p.startswith("60")]
    # Asterisk logs naive local wall-clock times, so the generator works in naive time
    start = datetime(year, month, 1)  # noqa: DTZ001
    days = (datetime(year + month // 12, month % 12 + 1, 1) - start).days  # noqa: DTZ001
    rows: list[list[str]] = []
    unknown = malformed = 0
    for n in range(records):
        owner = rng.choices(owners, weights=weights)[0]
        caller = rng.choice(owner[1])
        if rng.random() < 0.01:
            caller = f"03{rng.randint(10000000, 19999999)}"  # not any customer's number
            unknown += 1
        roll = rng.random()
        if roll < 0.70:
            prefix = rng.choice(my_prefixes)
            dst = (
                "0" + prefix[2:] + "".join(str(rng.randint(0, 9)) for _ in range(10 - len(prefix)))
            )
        elif roll < 0.995:
            prefix = rng.choice(intl_prefixes)
            dst = "00" + prefix + "".join(str(rng.randint(0, 9)) for _ in range(11 - len(prefix)))
        else:
            dst = "00881" + "".join(str(rng.randint(0, 9)) for _ in range(8))  # satellite: no rate
        day = rng.randrange(days)
        hour = rng.choices(
            range(24),
            weights=[
                1,
                1,
                1,
                1,
                1,
                2,
                4,
                8,
                14,
                16,
                16,
                15,
                12,
                14,
                16,
                16,
                14,
                10,
                7,
                5,
                4,
                3,
                2,
                1,
            ],
        )[0]
        begin = start + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        answered = rng.random() < 0.86
        ring = rng.randint(3, 25)
        talk = int(rng.expovariate(1 / 140)) + 1 if answered else 0
        answer = begin + timedelta(seconds=ring) if answered else begin
        end = answer + timedelta(seconds=talk)
        disposition = "ANSWERED" if answered else rng.choice(["NO ANSWER", "BUSY", "FAILED"])
        fmt = "%Y-%m-%d %H:%M:%S"
        rows.append(
            [
                "",
                caller,
                dst,
                "from-internal",
                f'"{owner[0]}" <{caller}>',
                f"SIP/{owner[0]}-{n:08x}",
                "SIP/trunk-out-01" if answered else "",
                "Dial",
                f"SIP/trunk-out-01/{dst},60",
                begin.strftime(fmt),
                answer.strftime(fmt) if answered else "",
                end.strftime(fmt),
                str(ring + talk),
                str(talk),
                disposition,
                "DOCUMENTATION",
                # a uniqueid begins with the epoch second the channel was made
                f"{int(begin.replace(tzinfo=SWITCH_ZONE).timestamp())}.{n}",
                "",
            ]
        )
    rows.sort(key=lambda r: r[9])
    duplicates = 0
    for _ in range(int(records * 0.02)):  # switches resend; about 2% repeats
        rows.insert(rng.randrange(len(rows)), list(rng.choice(rows)))
        duplicates += 1
    for _ in range(max(3, records // 50_000)):  # same id, corrected billsec: ID_CONFLICT
        twin = list(rng.choice(rows))
        twin[13] = str(int(twin[13]) + 7)
        rows.append(twin)
    for _ in range(max(6, int(records * 0.003))):  # broken lines
        row = list(rng.choice(rows))
        while len(row) < len(ASTERISK_FIELDS):  # a row broken earlier is no template
            row = list(rng.choice(rows))
        row[16] = f"bad.{malformed}"
        kind = rng.randrange(3)
        if kind == 0:
            row[9] = "2026-10-32 25:61:00"
        elif kind == 1:
            row[13] = "-" + row[13]
        else:
            row = row[:11]
        rows.insert(rng.randrange(len(rows)), row)
        malformed += 1
    half = len(rows) // 2
    files = [
        directory / f"Master-{year}-{month:02d}-a.csv",
        directory / f"Master-{year}-{month:02d}-b.csv",
    ]
    for path, part in zip(files, (rows[:half], rows[half:]), strict=True):
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(part)
    return DemoFiles(
        deck=deck_path,
        customers=customers_path,
        cdr_files=files,
        rows=len(rows),
        planted_duplicates=duplicates,
        planted_unknown_callers=unknown,
        planted_malformed=malformed,
    )
