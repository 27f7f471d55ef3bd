"""Opening a database: URL normalisation, SQLite pragmas, and migrating to the current schema."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError, OperationalError, ProgrammingError, SQLAlchemyError

from ratebook.errors import StoreError
from ratebook.store.writer_turns import WriterTurns

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration's revision (``tests/store/test_schema.py`` holds it to the folder), so
#: that opening a current store reads one row instead of loading Alembic, which is slow.
SCHEMA_HEAD = "0029"


#: The URL schemes a store may have (after ``normalise_url``).
_SCHEMES = ("sqlite", "postgresql+psycopg")


def normalise_url(url: str) -> str:
    """A store's URL from what a user gave: a plain path (``other.db``, ``./data/r.db``) is a
    SQLite file; ``postgres://`` and ``postgresql://`` choose the psycopg 3 driver.

    Raises:
        StoreError: ``UNSUPPORTED_DATABASE`` for any other kind of database.
    """
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    scheme = url.split("://", 1)[0]
    if scheme not in _SCHEMES:
        raise StoreError(
            "UNSUPPORTED_DATABASE",
            f"{scheme}:// is not a store Ratebook can use: give a SQLite file path"
            " (sqlite:///path) or a PostgreSQL URL (postgresql://user@host/db)",
        )
    return url


#: How long a SQLite writer waits for another's write lock (``busy_timeout``), in seconds.
SQLITE_BUSY_SECONDS = 10


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # the driver's own transaction handling would run DDL outside any transaction; SQLAlchemy
    # emits BEGIN instead (below), so a migration is all or nothing like any other change
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # each commit reaches the disk before it returns (the write-ahead log synced), so an
    # import reported done or a push answered survives a power cut, as on PostgreSQL
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.close()


_READ_ONLY = "ratebook_read_only"

#: SQLite's page cache for one bulk import (KiB); the default is 2 MiB per connection.
_IMPORT_CACHE_KIB = 128 * 1024


@contextmanager
def import_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a 128 MiB page cache for ``conn`` while it imports, then its old size
    again: a large file's index pages (the record id key above all) outgrow the default
    2 MiB and every insert would read pages back through the operating system. Only for the
    import, since pooled connections each keep their own cache. The cache counts in the
    import's memory: a 5M-row file imports as fast with 128 MiB as with 256. Nothing on
    PostgreSQL."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read. On SQLite they begin DEFERRED, so they
    read a snapshot (WAL) beside a writer instead of queueing for the write lock."""
    return engine.execution_options(**{_READ_ONLY: True})


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent read of the store, beside any writer: on PostgreSQL a read-only
    REPEATABLE READ transaction, on SQLite a deferred one (its WAL snapshot)."""
    with reading(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield conn


#: Bytes of a SQLite file a long read maps into memory (``mapped_reads``): mapped pages count
#: in the process's resident memory, so this bounds what they add to it.
MAPPED_READ_BYTES = 512 << 20


@contextmanager
def mapped_reads(conn: Connection) -> Iterator[Connection]:
    """``conn`` reading a SQLite file through memory-mapped pages for a while (a month's join
    reads each page many times: a system call each, otherwise); PostgreSQL is left as is."""
    if conn.dialect.name != "sqlite":
        yield conn
        return
    conn.exec_driver_sql(f"PRAGMA mmap_size={MAPPED_READ_BYTES}")
    try:
        yield conn
    finally:
        conn.exec_driver_sql("PRAGMA mmap_size=0")


def ping(engine: Engine) -> None:
    """Ask the store for nothing (raises ``SQLAlchemyError`` when it does not answer)."""
    with reading(engine).connect() as conn:
        conn.execute(text("SELECT 1"))


def _busy() -> StoreError:
    return StoreError(
        "DB_BUSY",
        f"the database is busy: another process (an import, a cycle close, the API's"
        f" writer) held its write lock for over {SQLITE_BUSY_SECONDS} s; try again when"
        f" it has finished",
    )


def _sqlite_begin(turns: WriterTurns | None, conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes fails at once with "database is locked" when another writer got in between
    # (the busy timeout cannot help an upgrade), which concurrent API requests hit
    if conn.get_execution_options().get(_READ_ONLY, False):
        conn.exec_driver_sql("BEGIN")
        return
    holder = id(conn.connection.dbapi_connection)
    if turns is not None and not turns.take(holder, SQLITE_BUSY_SECONDS):
        raise _busy()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException as exc:
        if turns is not None:
            turns.give_back(holder)
        if isinstance(exc, OperationalError) and "locked" in str(exc.orig):
            raise _busy() from exc
        raise


def _sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite engine's database (a ``file:`` URI's path too), or None for one
    in memory."""
    database = engine.url.database or ""
    if engine.url.query.get("uri") and database.startswith("file:"):
        if "memory" in str(engine.url.query.get("mode", "")):
            return None
        database = urlparse(database).path
    return None if database in ("", ":memory:") else Path(database)


def _giving_back_turns(engine: Engine, turns: WriterTurns) -> None:
    """End a writer's turn (``store.writer_turns``) once its transaction has ended: after
    the driver's commit or rollback (a pooled connection's reset on return included), or as
    its connection closes."""
    dialect: Any = engine.dialect
    for name in ("do_commit", "do_rollback", "do_close"):
        done = getattr(dialect, name)

        def then_give_back(dbapi_connection: Any, done: Any = done) -> None:
            try:
                done(dbapi_connection)
            finally:
                raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
                turns.give_back(id(raw))

        setattr(dialect, name, then_give_back)


#: Connections an engine keeps open once used: as many as the API's busiest moment (AnyIO's
#: 40 worker threads, the event writer and the feed scheduler). A pool smaller than that closes
#: each connection returned beyond its size and opens a new one for the next request (SQLite:
#: four pragmas; PostgreSQL: a login), which a single pushed event cannot afford.
#: PostgreSQL admits 100 connections by default, so a request beyond the pool there waits for
#: one instead of opening another.
_POOL_SIZE = 48


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with Ratebook's connection settings (no migration)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # pooled: a connection's pragmas are set once, not on every request of the API
        engine = create_engine(url, pool_size=_POOL_SIZE, max_overflow=16)
        event.listen(engine, "connect", _sqlite_pragmas)
        database = _sqlite_file(engine)
        turns = None if database is None else WriterTurns(database)
        if turns is not None:
            _giving_back_turns(engine, turns)
        event.listen(engine, "begin", functools.partial(_sqlite_begin, turns))
        return engine
    engine = create_engine(url, pool_size=_POOL_SIZE, max_overflow=0)
    event.listen(engine, "connect", _postgres_settings)
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", _tested_if_idle)
    return engine


#: How long a pooled PostgreSQL connection may have been idle and still be handed out
#: untested. Testing every connection as it is handed out (SQLAlchemy's ``pool_pre_ping``)
#: is a round trip to the server before every quote and every group of pushed events, a
#: seventh of a quote's time; a connection handed straight back out was working a moment
#: ago. If the server restarts meanwhile, the statement that meets the dead connection fails
#: (``STORE_ERROR``, nothing kept) and SQLAlchemy retires every connection of the pool then
#: open, so the next ones are new.
_UNTESTED_IDLE_SECONDS = 1.0
_RETURNED_AT = "ratebook_returned_at"


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _tested_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Test a connection that idled in the pool (a server's idle timeout, a restart, a
    proxy may have closed it) before handing it out; a dead one is replaced by a new one
    (the pool retries the checkout on ``DisconnectionError``)."""
    returned = record.info.get(_RETURNED_AT)
    if returned is None or time.monotonic() - returned < _UNTESTED_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as error:
        raise DisconnectionError(str(error)) from error


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    # No JIT compilation: a probe of the key table per id, through its sixteen partitions, is
    # costed as a large query and compiled for about half a second, for a lookup that runs in
    # milliseconds; Ratebook's statements are many and short, none gains from it.
    dbapi_connection.execute("SET jit = off")
    dbapi_connection.commit()


def alembic_config() -> Config:
    """The Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_versions(engine: Engine) -> list[str]:
    """The migrations the database is at (one, or none for a new database)."""
    try:
        with reading(engine).connect() as conn:  # beside a writer, not behind it
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return [str(v) for v in found]
    except (OperationalError, ProgrammingError) as exc:
        if "alembic_version" not in str(exc.orig):
            raise
        return []  # a new database: no migration has run


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration."""
    return schema_versions(engine) == [SCHEMA_HEAD]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default); harmless when it already is.

    On SQLite, foreign keys are off while migrating: a migration that changes a constraint
    rebuilds the table (Alembic's batch mode), dropping a table others refer to. The keys are
    checked before the migration commits.

    Raises:
        StoreError: ``DB_MIGRATION_FAILED`` when the migrated data break a foreign key.
    """
    from alembic import command

    config = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, or it has no effect
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StoreError(
                        "DB_MIGRATION_FAILED",
                        f"migrating {engine.url!r} would break foreign keys: {broken[:5]}",
                    )
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _upgrade(engine: Engine, versions: list[str]) -> None:
    """``migrate`` a store found at ``versions`` to the newest schema (Alembic is loaded only
    here: opening a current store does not need it)."""
    from alembic.util.exc import CommandError

    try:
        migrate(engine)
    except CommandError as exc:
        # the usual cause: a newer Ratebook migrated this store to a schema this one lacks
        raise StoreError(
            "DB_SCHEMA_UNKNOWN",
            f"{engine.url!r} is at schema {', '.join(versions)}, which this Ratebook (schema"
            f" {SCHEMA_HEAD}) does not know; a newer Ratebook wrote it: upgrade to open it",
        ) from exc


def open_store(url: str) -> Engine:
    """Open (creating if need be) and migrate the database at ``url``.

    Raises:
        StoreError: ``DB_UNREACHABLE`` when the database cannot be opened or migrated;
            ``DB_SCHEMA_UNKNOWN`` when it is at a schema this code does not know.
    """
    engine = make_engine(url)
    try:
        _open(engine)
    except BaseException:
        engine.dispose()  # no connection of a store that failed to open is left behind
        raise
    return engine


def open_reader(url: str) -> Engine:
    """Open an existing store for commands that only read: it is never created nor migrated,
    and on SQLite its transactions begin DEFERRED, reading a WAL snapshot beside any writer
    instead of waiting for the write lock.

    Raises:
        StoreError: ``NO_STORE`` (no such SQLite file, or no Ratebook schema in it),
            ``DB_SCHEMA_OLD`` (an older schema: ``ratebook migrate``), ``DB_SCHEMA_UNKNOWN``,
            ``DB_UNREACHABLE``.
    """
    engine = make_engine(url)
    try:
        _check_readable(engine)
    except BaseException:
        engine.dispose()
        raise
    return reading(engine)


def _check_readable(engine: Engine) -> None:
    url = engine.url
    if url.get_backend_name() == "sqlite" and not url.query.get("uri"):
        path = url.database or ""
        if path not in ("", ":memory:") and not Path(path).exists():
            raise StoreError(
                "NO_STORE",
                f"there is no store at {path}: create one with `ratebook init`, or point --db"
                " (or $RATEBOOK_DATABASE_URL) at yours",
            )
    try:
        versions = schema_versions(engine)
    except OperationalError as exc:
        raise StoreError("DB_UNREACHABLE", f"cannot open {url!r}: {exc.orig}") from exc
    if not versions:
        raise StoreError(
            "NO_STORE",
            f"{url!r} holds no Ratebook store yet: create one with `ratebook init`",
        )
    if versions == [SCHEMA_HEAD]:
        return
    if max(versions) < SCHEMA_HEAD:
        raise StoreError(
            "DB_SCHEMA_OLD",
            f"{url!r} is at schema {', '.join(versions)}, older than this Ratebook's"
            f" {SCHEMA_HEAD}: run `ratebook migrate` to bring it up to date",
        )
    raise StoreError(
        "DB_SCHEMA_UNKNOWN",
        f"{url!r} is at schema {', '.join(versions)}, which this Ratebook (schema"
        f" {SCHEMA_HEAD}) does not know; a newer Ratebook wrote it: upgrade to open it",
    )


def _open(engine: Engine) -> None:
    """``open_store``'s migration, its failures as ``StoreError``."""
    try:
        versions = schema_versions(engine)
        if versions != [SCHEMA_HEAD]:
            log.info("migrating database schema")
            _upgrade(engine, versions)
    except OperationalError as exc:
        raise StoreError("DB_UNREACHABLE", f"cannot open {engine.url!r}: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise StoreError("DB_MIGRATION_FAILED", f"cannot migrate {engine.url!r}: {exc}") from exc
