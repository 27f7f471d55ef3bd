"""The tour folder ``ratebook demo`` writes (``files/``): small files of every kind Ratebook
reads, and a README of commands to run in it, in order, each with what it shows. A test
(``tests/cli/test_tour.py``) runs the README's commands as printed and checks each promise.

The figures the README promises, worked out by hand:

* ``Master.csv`` (Asterisk) holds nine calls: 1001.1 from T001 to a Maxis mobile (61 s,
  billed as 2 minutes at 0.10 = 0.20); 1001.2 from T001 to Singapore (30 s as 1 minute at
  0.20 = 0.20); 1001.3 from T002 to Malaysia (125 s as 3 minutes at 0.06 = 0.18); 1001.4,
  T002, not answered (0); 1001.5 from a number no customer has (UNMATCHED_CUSTOMER); 1001.1
  again (a duplicate); 1001.7 from T003, whose numbers are on the retail table, Monday 5
  October 10:00, peak (1 minute at 0.08); 1001.8 with billsec ``abc`` (INVALID_RECORD,
  exception 2 in the queue) and 1001.9 to a satellite number no rate covers (NO_RATE). So
  read 9 = rated 5 + duplicates 1 + exceptions 3, and T001 holds 2 records, 180 s, 0.40.
* Correcting exception 2 to 30 s bills 1001.8 (from 0321110002, under T001's +6032111*)
  as 1 minute to Malaysia at 0.06.
* ``freeswitch.csv``: two calls of T002, 95 s (2 minutes at 0.06 = 0.12) and one not
  answered. ``events.csv``: T003's 3 SMS at 0.05 and 250,000,000 B of data at 0.01 a MB
  (2.50).
* ``plans.csv``: T001 pays 30.00 a month in arrears from 1 October. With SST 8% on every
  line, the October close invoices T001: 30.00 + 0.20 + 0.20 + 0.06 = 30.46, tax 2.4368 ->
  2.44, total 32.90; and T003: 0.08 + 0.15 + 2.50 = 2.73, tax 0.2184 -> 0.22, total 2.95.
  T002's 0.18 + 0.12 = 0.30 is under the 1.00 floor and carried forward.
* The October regulatory report: 3.49 of usage (T001 0.46, T002 0.30, T003 2.73), of which
  3.19 invoiced and T002's 0.30 open, carried forward.
* ``incoming/november.csv``, pulled by the feed: T001's 600 s call of 3 November to
  Malaysia, 10 minutes at 0.06 = 0.60.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def write_tour(folder: Path) -> Path:
    """Write the tour's files into ``folder`` (made if absent; its files are replaced)."""
    source = resources.files("ratebook.tour") / "files"
    with resources.as_file(source) as files:
        shutil.copytree(files, folder, dirs_exist_ok=True)
    return folder
