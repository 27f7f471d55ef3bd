"""What the API's writer process pays per group commit, measured in process: groups of 1, 10 and
30 single-event requests drawn like the shaped month (``bench/api_load.py``'s ``Draw``), each
stored by one ``ingest_event_groups`` call for the bench's entity against the store the API
part set up, as the server's writer process stores them: with the reference data loaded and
the writer's path rehearsed. Prints one line: the median milliseconds of each group size."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from api_load import Draw

from ratebook.settings import Settings
from ratebook.store.engine import make_engine
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.ingest_events import EventGroup, ingest_event_groups
from ratebook.workflows.warm_up import rehearse_events, warm_references


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--prefixes", type=Path, required=True)
    parser.add_argument("--groups", type=int, default=40, help="groups of each size")
    args = parser.parse_args()
    os.environ.setdefault("RATEBOOK_EVENT_DAYS_BACK", "36500")
    engine = make_engine(args.db)
    draw = Draw(args.prefixes.read_text().split())
    references = ReferenceCache()
    settings = Settings()
    # as the server's writer process starts
    warm_references(engine, references)
    rehearse_events(engine, references, settings)
    figures = []
    for size in (1, 10, 30):
        took = []
        for _ in range(args.groups):
            groups = [EventGroup(events=[draw.event()]) for _ in range(size)]
            began = time.perf_counter()
            ingest_event_groups(
                engine, groups, entity_code="BENCH", references=references, settings=settings
            )
            took.append((time.perf_counter() - began) * 1000)
        figures.append(f"{size}: {statistics.median(took):.1f} ms")
    print(
        "in process, one group commit of random-time single events, median: " + ", ".join(figures)
    )
    engine.dispose()


if __name__ == "__main__":
    main()
