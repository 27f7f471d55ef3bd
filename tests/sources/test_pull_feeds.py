"""Scheduled imports against real places on loopback: a folder, an SFTP server, an S3 endpoint.

Each story runs for each of the three (and on SQLite and PostgreSQL): a new file is imported
once; the same content again (same name, renamed, another feed) imports nothing; a transfer cut
mid-way imports nothing and the retry imports once; bad credentials fail that feed only; unsafe
names are refused; moving or deleting happens only after the commit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sqlalchemy import Engine, func, select, text

from ratebook.errors import StoreError
from ratebook.settings import Settings
from ratebook.sources.feeds_config import FolderFeed, S3Feed, SftpFeed
from ratebook.sources.remote import FeedError, FolderStore, RemoteFile, RemoteStore, connect
from ratebook.store.engine import make_engine
from ratebook.store.entities import get_entity
from ratebook.store.feed_lock import advisory_key, running_feed
from ratebook.store.tables import feed_files, feed_runs, import_batches, usage_records
from ratebook.workflows import pull_feeds
from ratebook.workflows.pull_feeds import AnyFeed, PullResult, pull_all, pull_feed
from tests.support.servers import CuttingProxy, S3Server, SftpServer, start_s3, start_sftp

SETTINGS = Settings()
BUCKET = "cdrs"


def cdr_file(tag: str, rows: int = 3) -> bytes:
    lines = ["record_id,start_time,quantity,caller,destination"]
    lines += [
        f"{tag}-{n},2026-10-05T10:00:00+08:00,{n + 1},+60321110000,+60312345678"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _now() -> datetime:
    return datetime.now(UTC) + timedelta(hours=2)  # every delivered file is settled by then


class Delivery:
    """A place files are delivered to, and feeds that read it."""

    kind: str
    opener: Callable[[AnyFeed], RemoteStore] = staticmethod(connect)

    def feed(self, name: str = "f1", **settings: Any) -> AnyFeed:
        raise NotImplementedError

    def bad_feed(self) -> AnyFeed:
        raise NotImplementedError

    def put(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def names(self, under: str = "") -> set[str]:
        raise NotImplementedError

    def break_next_transfer(self) -> None:
        raise NotImplementedError


class FolderDelivery(Delivery):
    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.breaks = 0
        self.opener = self._open

    def _open(self, feed: AnyFeed) -> RemoteStore:
        outer = self
        assert isinstance(feed, FolderFeed)

        class Flaky(FolderStore):
            def download(self, file: RemoteFile, out: BinaryIO) -> None:
                if outer.breaks:
                    outer.breaks -= 1
                    out.write(b"record_id,start")  # part of the file, then the disk fails
                    raise FeedError("TRANSFER_FAILED", f"{file.name}: read error")
                super().download(file, out)

        return Flaky(feed)

    def feed(self, name: str = "f1", **settings: Any) -> AnyFeed:
        return FolderFeed(
            kind="folder", name=name, format="generic", path=self.root, pattern="*.csv", **settings
        )

    def bad_feed(self) -> AnyFeed:
        return FolderFeed(kind="folder", name="bad", format="generic", path=self.root / "not-there")

    def put(self, name: str, data: bytes) -> None:
        (self.root / name).write_bytes(data)

    def names(self, under: str = "") -> set[str]:
        folder = self.root / under if under else self.root
        return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()

    def break_next_transfer(self) -> None:
        self.breaks = 1


class SftpDelivery(Delivery):
    kind = "sftp"

    def __init__(self, server: SftpServer, proxy: CuttingProxy, tmp: Path) -> None:
        self.server, self.proxy = server, proxy
        self.known_hosts = server.known_hosts(tmp / "known_hosts", server.port, proxy.port)
        self.inbox = server.root / "outgoing"
        self.inbox.mkdir(exist_ok=True)

    def feed(self, name: str = "f1", **settings: Any) -> AnyFeed:
        return SftpFeed(
            kind="sftp",
            name=name,
            format="generic",
            host="127.0.0.1",
            port=self.proxy.port,
            username="carrier",
            path="/outgoing",
            key_file=self.server.client_key,
            known_hosts=self.known_hosts,
            pattern="*.csv",
            **settings,
        )

    def bad_feed(self) -> AnyFeed:
        return SftpFeed(
            kind="sftp",
            name="bad",
            format="generic",
            host="127.0.0.1",
            port=self.server.port,
            username="carrier",
            path="/outgoing",
            key_file=self.server.stranger_key,
            known_hosts=self.known_hosts,
        )

    def put(self, name: str, data: bytes) -> None:
        (self.inbox / name).write_bytes(data)

    def names(self, under: str = "") -> set[str]:
        folder = self.inbox / under if under else self.inbox
        return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()

    def break_next_transfer(self) -> None:
        self.proxy.cut_after(60_000)  # past the handshake and listing, inside the file


class S3Delivery(Delivery):
    kind = "s3"

    def __init__(self, server: S3Server, proxy: CuttingProxy, prefix: str) -> None:
        self.server, self.proxy, self.prefix = server, proxy, prefix
        os.environ["RB_TEST_S3_KEY"] = server.access_key
        os.environ["RB_TEST_S3_SECRET"] = server.secret_key
        os.environ["RB_TEST_S3_WRONG"] = "not-the-secret"

    def feed(self, name: str = "f1", **settings: Any) -> AnyFeed:
        return S3Feed(
            kind="s3",
            name=name,
            format="generic",
            bucket=BUCKET,
            prefix=self.prefix,
            endpoint_url=f"http://127.0.0.1:{self.proxy.port}",
            access_key_env="RB_TEST_S3_KEY",
            secret_key_env="RB_TEST_S3_SECRET",
            pattern="*.csv",
            **settings,
        )

    def bad_feed(self) -> AnyFeed:
        return S3Feed(
            kind="s3",
            name="bad",
            format="generic",
            bucket=BUCKET,
            prefix=self.prefix,
            endpoint_url=self.server.url,
            access_key_env="RB_TEST_S3_KEY",
            secret_key_env="RB_TEST_S3_WRONG",
        )

    def put(self, name: str, data: bytes) -> None:
        self.server.client().put_object(Bucket=BUCKET, Key=self.prefix + name, Body=data)

    def names(self, under: str = "") -> set[str]:
        start = self.prefix + (under.rstrip("/") + "/" if under else "")
        listed = self.server.client().list_objects_v2(Bucket=BUCKET, Prefix=start)
        return {
            o["Key"][len(start) :]
            for o in listed.get("Contents", [])
            if "/" not in o["Key"][len(start) :]
        }

    def break_next_transfer(self) -> None:
        self.proxy.cut_after(60_000)


@pytest.fixture(scope="module")
def sftp_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SftpServer, CuttingProxy]]:
    server = start_sftp(tmp_path_factory.mktemp("sftp"))
    proxy = CuttingProxy(server.port)
    yield server, proxy
    proxy.close()
    server.stop()


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[S3Server, CuttingProxy]]:
    server = start_s3(BUCKET)
    proxy = CuttingProxy(server.port)
    yield server, proxy
    proxy.close()
    server.stop()


@pytest.fixture(params=["folder", "sftp", "s3"])
def delivery(request: pytest.FixtureRequest, tmp_path: Path) -> Delivery:
    if request.param == "folder":
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        return FolderDelivery(inbox)
    if request.param == "sftp":
        server, proxy = request.getfixturevalue("sftp_server")
        for old in server.root.glob("outgoing/**/*"):
            if old.is_file():
                old.unlink()
        return SftpDelivery(server, proxy, tmp_path)
    server, proxy = request.getfixturevalue("s3_server")
    return S3Delivery(server, proxy, prefix=f"{tmp_path.name}/")


def _pull(engine: Engine, delivery: Delivery, feed: AnyFeed) -> PullResult:
    return pull_feed(engine, feed, settings=SETTINGS, now=_now(), opener=delivery.opener)


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _fresh(result: PullResult) -> int:
    return sum(1 for s in result.imported if not s.already_imported)


def test_a_new_file_is_imported_once(my_engine: Engine, delivery: Delivery) -> None:
    delivery.put("a.csv", cdr_file("a"))
    delivery.put("notes.txt", b"not a feed file")
    first = _pull(my_engine, delivery, delivery.feed())
    assert (first.status, first.files_seen, _fresh(first)) == ("ok", 1, 1)
    assert first.imported[0].rows_read == 3
    assert first.imported[0].path.endswith("a.csv")
    second = _pull(my_engine, delivery, delivery.feed())
    assert (second.status, _fresh(second)) == ("ok", 0)
    assert (_count(my_engine, import_batches), _count(my_engine, usage_records)) == (1, 3)
    assert delivery.names() == {"a.csv", "notes.txt"}  # after_import: leave


def test_the_same_content_again_imports_nothing(my_engine: Engine, delivery: Delivery) -> None:
    data = cdr_file("same")
    delivery.put("a.csv", data)
    _pull(my_engine, delivery, delivery.feed())
    delivery.put("a.csv", data)  # delivered again under the same name
    delivery.put("renamed.csv", data)  # and under another name
    again = _pull(my_engine, delivery, delivery.feed())
    other = _pull(my_engine, delivery, delivery.feed("f2"))  # and through another feed
    assert (_fresh(again), _fresh(other)) == (0, 0)
    assert {s.already_imported for s in again.imported + other.imported} <= {True}
    assert (_count(my_engine, import_batches), _count(my_engine, usage_records)) == (1, 3)
    with my_engine.connect() as conn:
        states = set(conn.execute(select(feed_files.c.state)).scalars())
    assert states == {"done"}


# paramiko's prefetch thread can die with the cut connection ("Socket is closed") after the
# transfer has already failed; what matters here is that the import fails cleanly and retries
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_cut_transfer_imports_nothing_and_the_retry_once(
    my_engine: Engine, delivery: Delivery
) -> None:
    delivery.put("big.csv", cdr_file("big", rows=4000))  # about 250 kB
    delivery.break_next_transfer()
    broken = _pull(my_engine, delivery, delivery.feed(after_import="delete"))
    assert broken.status == "failed"
    assert broken.error is not None
    assert "TRANSFER_FAILED" in broken.error
    assert _count(my_engine, import_batches) == 0
    assert delivery.names() == {"big.csv"}
    retry = _pull(my_engine, delivery, delivery.feed(after_import="delete"))
    assert (retry.status, _fresh(retry)) == ("ok", 1)
    assert _count(my_engine, usage_records) == 4000
    assert delivery.names() == set()


def test_bad_credentials_fail_that_feed_only(
    my_engine: Engine, delivery: Delivery, tmp_path: Path
) -> None:
    delivery.put("a.csv", cdr_file("a"))
    healthy_dir = tmp_path / "healthy"
    healthy_dir.mkdir()
    (healthy_dir / "h.csv").write_bytes(cdr_file("h"))
    healthy = FolderFeed(kind="folder", name="healthy", format="generic", path=healthy_dir)
    told: list[tuple[str, int, int]] = []
    bad, good = pull_all(
        my_engine,
        [delivery.bad_feed(), healthy],
        settings=SETTINGS,
        now=_now(),
        progress=lambda feed, done, total: told.append((feed, done, total)),
    )
    expected = "PATH_MISSING" if delivery.kind == "folder" else "LOGIN_REFUSED"
    assert bad.status == "failed"
    assert bad.error is not None
    assert expected in bad.error
    assert (good.status, _fresh(good)) == ("ok", 1)
    assert "not-the-secret" not in bad.error
    # the failing feed never listed its files; the healthy one counts its single file
    assert told == [("healthy", 0, 1), ("healthy", 1, 1)]


def test_unsafe_names_are_refused(my_engine: Engine, delivery: Delivery) -> None:
    delivery.put("ok.csv", cdr_file("ok"))
    if delivery.kind == "s3":
        delivery.put("../../escape.csv", cdr_file("escape"))
        unsafe = "../../escape.csv"
    else:
        unsafe = "evil\x1b[2J.csv"  # a terminal escape in a file name
        delivery.put(unsafe, cdr_file("evil"))
    result = _pull(my_engine, delivery, delivery.feed())
    assert [name for name, _ in result.refused] == [unsafe]
    assert _fresh(result) == 1
    assert _count(my_engine, usage_records) == 3


def test_move_happens_only_after_the_commit(
    my_engine: Engine, delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery.put("a.csv", cdr_file("a"))
    feed = delivery.feed(after_import="move", archive_path="done")

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("power cut during the import")

    monkeypatch.setattr(pull_feeds, "import_feed", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        _pull(my_engine, delivery, feed)
    assert delivery.names() == {"a.csv"}
    assert delivery.names("done") == set()
    monkeypatch.undo()

    result = _pull(my_engine, delivery, feed)
    assert _fresh(result) == 1
    assert delivery.names() == set()
    assert delivery.names("done") == {"a.csv"}


def test_crash_after_the_commit_finishes_the_delete_without_reimporting(
    my_engine: Engine, delivery: Delivery
) -> None:
    delivery.put("a.csv", cdr_file("a"))
    feed = delivery.feed(after_import="delete")
    real_opener = delivery.opener

    def failing_delete(target: AnyFeed) -> RemoteStore:
        store = real_opener(target)

        def broken(_file: RemoteFile) -> None:
            raise FeedError("TRANSFER_FAILED", "connection dropped before the delete")

        store.delete = broken  # type: ignore[method-assign,assignment]
        return store

    crashed = pull_feed(my_engine, feed, settings=SETTINGS, now=_now(), opener=failing_delete)
    assert crashed.status == "failed"
    assert delivery.names() == {"a.csv"}
    assert _count(my_engine, import_batches) == 1  # the import itself committed
    rerun = _pull(my_engine, delivery, feed)
    assert (rerun.status, _fresh(rerun)) == ("ok", 0)
    assert _count(my_engine, import_batches) == 1
    assert delivery.names() == set()


def _runs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(feed_runs.c.status).order_by(feed_runs.c.id)).scalars())


def test_a_second_run_of_a_feed_under_way_leaves_it_to_the_first(
    my_engine: Engine, tmp_path: Path
) -> None:
    """Two servers (or threads) pulling one feed: the one that comes second while the first
    is downloading does nothing and logs no run; the file is imported once, by the first."""
    root = tmp_path / "inbox"
    root.mkdir()
    delivery = FolderDelivery(root)
    delivery.put("a.csv", cdr_file("a"))
    feed = delivery.feed(after_import="move", archive_path="done")
    downloading, go_on = threading.Event(), threading.Event()

    class Slow(FolderStore):
        def download(self, file: RemoteFile, out: BinaryIO) -> None:
            downloading.set()
            assert go_on.wait(30)
            super().download(file, out)

    def slow(target: AnyFeed) -> RemoteStore:
        assert isinstance(target, FolderFeed)
        return Slow(target)

    first: list[PullResult] = []

    def run_first() -> None:
        first.append(pull_feed(my_engine, feed, settings=SETTINGS, now=_now(), opener=slow))

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert downloading.wait(30)
        second = _pull(my_engine, delivery, feed)
    finally:
        go_on.set()
        thread.join(30)
    assert (second.status, second.files_seen, second.imported) == ("busy", 0, [])
    assert second.error is not None
    assert "another process is running this feed" in second.error
    assert (first[0].status, _fresh(first[0])) == ("ok", 1)
    assert (_count(my_engine, import_batches), _count(my_engine, usage_records)) == (1, 3)
    assert _runs(my_engine) == ["ok"]
    assert delivery.names("done") == {"a.csv"}
    # the lock went with the first run: the next run is a normal one
    delivery.put("b.csv", cdr_file("b"))
    third = _pull(my_engine, delivery, feed)
    assert (third.status, _fresh(third)) == ("ok", 1)
    assert _runs(my_engine) == ["ok", "ok"]


def test_a_feed_held_by_another_process_is_busy_and_another_feed_is_not(
    my_engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """``ratebook pull`` in another process, while this one runs the feed: it says busy,
    exits 0 and imports nothing; a feed of another name runs as usual."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(cdr_file("a"))
    os.utime(inbox / "a.csv", (0, 0))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: {name}, kind: folder, path: '{inbox}', format: generic}}\n"
            for name in ("held", "free")
        )
    )

    def pull(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ratebook", "--db", db_url, "pull", name]
        return subprocess.run(
            [*command, "--feeds", str(feeds)], capture_output=True, text=True, timeout=120
        )

    with my_engine.connect() as conn:
        entity_id = get_entity(conn, "MY1").id
    with running_feed(my_engine, entity_id, "held") as held:
        assert held
        busy = pull("held")
        free = pull("free")
    assert busy.returncode == 0, busy.stderr
    assert "held: busy, another process is running this feed" in busy.stdout
    assert free.returncode == 0, free.stderr
    assert "free: ok, 1 files seen, 1 imported" in free.stdout
    assert _runs(my_engine) == ["ok"]
    after = pull("held")  # released: the content is known, so nothing is imported again
    assert "held: ok, 1 files seen, 0 imported" in after.stdout, after.stderr
    assert _count(my_engine, usage_records) == 3


def test_a_feed_lock_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "ratebook.db.locks").write_text("a file where the lock folder goes")
    engine = make_engine(f"sqlite:///{folder / 'ratebook.db'}")
    with pytest.raises(StoreError) as caught, running_feed(engine, 1, "f1"):
        pass
    assert caught.value.code == "LOCK_UNAVAILABLE"
    assert "ratebook.db.locks" in caught.value.message
    engine.dispose()


def _feed_lock_holders(engine: Engine, entity_id: int, feed: str) -> set[int]:
    """The sessions holding the feed's advisory lock (other tests, in other schemas or other
    workers, may hold advisory locks of their own meanwhile)."""
    with engine.connect() as conn:
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        key = advisory_key(entity_id, feed, schema) & 0xFFFFFFFFFFFFFFFF
        return set(
            conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                    " AND granted AND classid = :high AND objid = :low"
                ),
                {"high": key >> 32, "low": key & 0xFFFFFFFF},
            ).scalars()
        )


def test_a_feed_lock_whose_connection_dies_ends_the_run_quietly(
    engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL: the lock's session killed mid-run (a database restart, say) takes the lock
    with it; leaving the block neither raises nor leaves the feed locked."""
    if not db_url.startswith("postgresql"):
        pytest.skip("an advisory lock's session is PostgreSQL's")
    assert _feed_lock_holders(engine, 1, "f1") == set()
    with running_feed(engine, 1, "f1") as held:
        assert held
        (mine,) = _feed_lock_holders(engine, 1, "f1")
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": mine})
    assert "feed lock connection lost" in caplog.text
    with running_feed(engine, 1, "f1") as again:
        assert again
