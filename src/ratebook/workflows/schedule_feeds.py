"""Run feeds on their cron schedules, with exponential backoff after a failed run.

A feed is due at the first fire time of its schedule after its last run (or after the
scheduler started, for a feed never run). After a failed run it is retried sooner: 1, 2, 4, ...
minutes after the failure (at most an hour), but never later than its schedule. The clock and
the sleep are handed in, so tests drive time instead of waiting for it.

The scheduler runs for as long as the server does, so nothing stops it: a feed it cannot run
at all (its entity unknown) is left out with a warning, and a round that fails on anything
else (the database gone for a moment) is logged and tried again a minute later. A feed that
another server (or a ``ratebook pull``) is running when it falls due is left to that run and
looked at again a minute later, when that run's log says when it is next due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import Engine

from ratebook.errors import RatebookError
from ratebook.settings import Settings
from ratebook.sources.feeds_config import load_feeds
from ratebook.store import feeds as manifest
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.pull_feeds import AnyFeed, PullResult, pull_feed

log = logging.getLogger(__name__)

BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedStatus:
    """A feed's last run and when it is next due.

    Attributes:
        feed: its name.
        history: its runs so far.
        next_run: when it is next due.
    """

    feed: str
    history: manifest.RunHistory
    next_run: datetime


def feed_statuses(engine: Engine, feeds: list[AnyFeed], *, now: datetime) -> list[FeedStatus]:
    """Each feed's status, in order.

    Raises:
        NotFoundError, ConfigError: a feed names an entity that does not exist.
    """
    found = []
    with reading(engine).connect() as conn:
        for feed in feeds:
            entity = get_entity(conn, feed.entity)
            history = manifest.history(conn, entity.id, feed.name)
            found.append(
                FeedStatus(feed=feed.name, history=history, next_run=next_run(feed, history, now))
            )
    return found


def read_feeds(path: Path) -> list[AnyFeed]:
    """The file feeds of a feeds file (``sources.feeds_config``)."""
    return load_feeds(path)


def next_run(feed: AnyFeed, history: manifest.RunHistory, started: datetime) -> datetime:
    """When ``feed`` is next due, given its run history and when the scheduler started."""
    anchor = history.last_started or started
    cron_next = next(iter(CronSim(feed.schedule, anchor.astimezone(ZoneInfo(feed.zone)))))
    due = cron_next.astimezone(started.tzinfo)
    if history.failures_in_a_row and history.last_finished is not None:
        backoff = min(BACKOFF_FIRST * 2 ** (history.failures_in_a_row - 1), BACKOFF_MAX)
        due = min(due, history.last_finished + backoff)
    return due


@dataclass(slots=True)
class Scheduler:
    """Runs due feeds; ``tick`` once, or ``run`` until ``stop`` says so."""

    engine: Engine
    feeds: list[AnyFeed]
    settings: Settings
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    started: datetime | None = None
    #: reference data kept between the feeds' imports (the API server's, under ``serve``)
    references: ReferenceCache | None = None
    #: feeds found busy (another process running them), not due again before the time given
    deferred: dict[str, datetime] = field(default_factory=dict)

    def due(self) -> list[tuple[AnyFeed, datetime]]:
        """Every feed with the time it is next due."""
        now = self.clock()
        started = self.started or now
        self.started = started
        out: list[tuple[AnyFeed, datetime]] = []
        with self.engine.connect() as conn:
            for feed in self.feeds:
                try:
                    entity = get_entity(conn, feed.entity)
                except RatebookError as error:  # e.g. the feed names an entity not in the store
                    log.warning("feed %s cannot run: %s", feed.name, error.render())
                    continue
                when = next_run(feed, manifest.history(conn, entity.id, feed.name), started)
                out.append((feed, max(when, self.deferred.get(feed.name, when))))
        return out

    def tick(self) -> list[PullResult]:
        """Run the feeds that are due now."""
        now = self.clock()
        results = []
        for feed, when in self.due():
            if when <= now:
                log.info("feed %s due at %s: pulling", feed.name, when.isoformat())
                result = pull_feed(
                    self.engine,
                    feed,
                    settings=self.settings,
                    now=now,
                    references=self.references,
                )
                if result.status == "busy":
                    self.deferred[feed.name] = now + BACKOFF_FIRST
                else:
                    self.deferred.pop(feed.name, None)
                results.append(result)
        return results

    def run(self, stop: Callable[[], bool]) -> None:
        """Tick and sleep until the next feed is due, until ``stop()`` is true; a round that
        fails is logged and the next one comes a minute later."""
        while not stop():
            try:
                self.tick()
                upcoming = min((when for _, when in self.due()), default=None)
                wait = 60.0 if upcoming is None else (upcoming - self.clock()).total_seconds()
            except Exception:
                log.exception("a round of the feed scheduler failed; the next is in a minute")
                wait = 60.0
            self.sleep(min(max(wait, 1.0), 60.0))
