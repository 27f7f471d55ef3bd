"""Schedules, backoff and settling rules, driven by a controllable clock (no sleeps)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ratebook.errors import InputError
from ratebook.settings import Settings
from ratebook.sources.feeds_config import FolderFeed, load_feeds
from ratebook.store.entities import get_entity
from ratebook.store.feed_lock import running_feed
from ratebook.store.tables import import_batches
from ratebook.workflows.pull_feeds import pull_feed
from ratebook.workflows.schedule_feeds import Scheduler
from tests.conftest import write
from tests.sources.test_pull_feeds import cdr_file

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _batches(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(import_batches)).scalar_one())


def _inbox(tmp_path: Path) -> Path:
    """A folder holding one CDR file, ``a.csv``, last written an hour before T0."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(cdr_file("a"))
    os.utime(inbox / "a.csv", (T0.timestamp() - 3600, T0.timestamp() - 3600))
    return inbox


def test_feeds_run_on_schedule_and_failures_back_off(my_engine: Engine, tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    good = FolderFeed(
        kind="folder", name="good", format="generic", path=inbox, schedule="*/15 * * * *"
    )
    broken = FolderFeed(
        kind="folder",
        name="broken",
        format="generic",
        path=tmp_path / "missing",
        schedule="*/15 * * * *",
    )
    clock = Clock(T0)
    scheduler = Scheduler(
        engine=my_engine, feeds=[good, broken], settings=Settings(), clock=clock, sleep=clock.sleep
    )

    assert scheduler.tick() == []  # 10:00 is the start; the first fire is 10:15
    clock.now = T0 + timedelta(minutes=15)
    ran = scheduler.tick()
    assert [(r.feed, r.status) for r in ran] == [("good", "ok"), ("broken", "failed")]
    assert _batches(my_engine) == 1

    # the failed feed is retried after 1, then 2, then 4 minutes; the good one waits for 10:30
    due = {feed.name: when for feed, when in scheduler.due()}
    assert due == {"good": T0 + timedelta(minutes=30), "broken": T0 + timedelta(minutes=16)}
    clock.now = T0 + timedelta(minutes=16)
    assert [r.feed for r in scheduler.tick()] == ["broken"]
    due = {feed.name: when for feed, when in scheduler.due()}
    assert due["broken"] == T0 + timedelta(minutes=18)
    clock.now = T0 + timedelta(minutes=18)
    assert [r.feed for r in scheduler.tick()] == ["broken"]
    assert {f.name: w for f, w in scheduler.due()}["broken"] == T0 + timedelta(minutes=22)

    clock.now = T0 + timedelta(minutes=30)
    assert sorted(r.feed for r in scheduler.tick()) == ["broken", "good"]
    assert _batches(my_engine) == 1  # nothing new was delivered

    stops = iter([False, True])
    scheduler.run(stop=lambda: next(stops))
    assert clock.slept
    assert all(1.0 <= s <= 60.0 for s in clock.slept)


def test_the_scheduler_outlives_a_feed_it_cannot_run_and_a_failed_round(
    my_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a feed naming an entity the store does not have, and a round whose clock fails once
    # (as the database going away for a moment would): the good feed still runs at 10:15
    inbox = _inbox(tmp_path)
    good = FolderFeed(
        kind="folder", name="good", format="generic", path=inbox, schedule="*/15 * * * *"
    )
    orphan = FolderFeed(
        kind="folder",
        name="orphan",
        format="generic",
        path=inbox,
        schedule="*/15 * * * *",
        entity="NOPE",
    )

    class FailingOnce(Clock):
        failed = False

        def __call__(self) -> datetime:
            if not self.failed:
                self.failed = True
                raise RuntimeError("the clock is gone for a moment")
            return self.now

    clock = FailingOnce(T0)
    scheduler = Scheduler(
        engine=my_engine, feeds=[orphan, good], settings=Settings(), clock=clock, sleep=clock.sleep
    )
    rounds = iter([False] * 40 + [True])
    with caplog.at_level("WARNING"):
        scheduler.run(stop=lambda: next(rounds))
    assert _batches(my_engine) == 1
    assert clock.now >= T0 + timedelta(minutes=15)
    assert clock.slept[0] == 60.0  # after the failed round
    assert "a round of the feed scheduler failed" in caplog.text
    assert "feed orphan cannot run" in caplog.text
    assert "NOPE" in caplog.text


def test_a_feed_another_server_is_running_is_left_to_it_and_looked_at_a_minute_later(
    my_engine: Engine, tmp_path: Path
) -> None:
    inbox = _inbox(tmp_path)
    feed = FolderFeed(
        kind="folder", name="shared", format="generic", path=inbox, schedule="*/15 * * * *"
    )
    clock = Clock(T0 + timedelta(minutes=15))
    scheduler = Scheduler(
        engine=my_engine,
        feeds=[feed],
        settings=Settings(),
        clock=clock,
        sleep=clock.sleep,
        started=T0,
    )
    with my_engine.connect() as conn:
        entity_id = get_entity(conn, "MY1").id
    with running_feed(my_engine, entity_id, "shared"):  # another server's run
        busy = scheduler.tick()
        assert [(r.feed, r.status) for r in busy] == [("shared", "busy")]
        # not again at once, nor backed off as a failure: a minute later
        assert [w for _, w in scheduler.due()] == [T0 + timedelta(minutes=16)]
        clock.now = T0 + timedelta(minutes=15, seconds=30)
        assert scheduler.tick() == []
    assert _batches(my_engine) == 0
    clock.now = T0 + timedelta(minutes=16)
    assert [(r.feed, r.status) for r in scheduler.tick()] == [("shared", "ok")]
    assert _batches(my_engine) == 1
    assert [w for _, w in scheduler.due()] == [T0 + timedelta(minutes=30)]


def test_a_file_still_being_written_waits(my_engine: Engine, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    feed = FolderFeed(kind="folder", name="drop", format="generic", path=inbox, min_age_seconds=60)
    path = inbox / "a.csv"
    whole = cdr_file("a", rows=10)
    path.write_bytes(whole[:100])
    os.utime(path, (T0.timestamp() - 10, T0.timestamp() - 10))
    first = pull_feed(my_engine, feed, settings=Settings(), now=T0)
    assert first.waiting == [("a.csv", "modified less than 60s ago")]

    path.write_bytes(whole)  # the writer finished, long ago by the time of the next run
    os.utime(path, (T0.timestamp(), T0.timestamp()))
    second = pull_feed(my_engine, feed, settings=Settings(), now=T0 + timedelta(minutes=5))
    assert second.waiting == [("a.csv", "still changing since the last run")]
    third = pull_feed(my_engine, feed, settings=Settings(), now=T0 + timedelta(minutes=10))
    assert third.waiting == []
    assert [s.rows_read for s in third.imported] == [10]


def test_unknown_host_keys_are_rejected(my_engine: Engine, tmp_path: Path) -> None:
    from ratebook.sources.feeds_config import SftpFeed
    from tests.support.servers import start_sftp

    server = start_sftp(tmp_path)
    try:
        empty = write(tmp_path / "known_hosts", "")
        feed = SftpFeed(
            kind="sftp",
            name="s",
            format="generic",
            host="127.0.0.1",
            port=server.port,
            username="u",
            key_file=server.client_key,
            known_hosts=empty,
        )
        result = pull_feed(my_engine, feed, settings=Settings(), now=T0)
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.startswith("HOST_KEY_REJECTED")
        assert empty.read_text() == ""  # nothing was added behind the user's back
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("text", "code", "where"),
    [
        ("feeds:\n  - name: a\n    kind: ftp\n    format: generic\n", "BAD_FEED", "feeds[0]"),
        (
            "feeds:\n  - name: a\n    kind: sftp\n    format: generic\n    username: u\n"
            "    key_file: k\n    known_hosts: kh\n",
            "BAD_FEED",
            "feeds[0].host",
        ),
        (
            "feeds:\n  - name: a\n    kind: folder\n    format: cisco\n    path: /x\n",
            "BAD_FEED",
            "feeds[0].format",
        ),
        (
            "feeds:\n  - name: a\n    kind: folder\n    format: generic\n    path: /x\n"
            "    schedule: every minute\n",
            "BAD_FEED",
            "feeds[0].schedule",
        ),
        (
            "feeds:\n  - name: a\n    kind: folder\n    format: generic\n    path: /x\n"
            "    after_import: move\n",
            "BAD_FEED",
            "feeds[0]",
        ),
        (
            "feeds:\n  - name: a\n    kind: folder\n    format: asterisk\n    path: /x\n"
            "    template: '\"${uuid}\"'\n",
            "BAD_FEED",
            "feeds[0]",
        ),
        (
            "feeds:\n  - name: a\n    kind: folder\n    format: freeswitch\n    path: /x\n"
            '    template: \'"${uuid}","${start_stamp}"\'\n',
            "BAD_FEED",
            "feeds[0]",
        ),
        ("feeds: [\n", "BAD_YAML", None),
    ],
)
def test_feeds_file_errors_name_the_setting(
    tmp_path: Path, text: str, code: str, where: str | None
) -> None:
    with pytest.raises(InputError) as caught:
        load_feeds(write(tmp_path / "feeds.yaml", text))
    assert caught.value.code == code
    assert caught.value.field == where


def test_a_feed_names_the_template_its_files_are_written_with(tmp_path: Path) -> None:
    line = '"${uuid}","${start_stamp}","${billsec}","${destination_number}"'
    text = (
        "feeds:\n  - name: fs\n    kind: folder\n    format: freeswitch\n    path: /x\n"
        f"    template: '{line}'\n"
    )
    (feed,) = load_feeds(write(tmp_path / "feeds.yaml", text))
    assert feed.template == line
