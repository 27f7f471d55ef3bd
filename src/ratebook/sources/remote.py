"""Where feed files live: the ``RemoteStore`` seam and its folder, SFTP and S3 implementations.

A store lists candidate files, streams one into a local file object, and moves or deletes it
after import. Failures raise :class:`FeedError` with a stable code and a message that names
the feed's location but never a secret.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from ratebook.errors import RatebookError
from ratebook.sources.feeds_config import FolderFeed, S3Feed, SftpFeed

_CHUNK = 1 << 20


class FeedError(RatebookError):
    """A feed cannot be reached or read: ``LOGIN_REFUSED``, ``HOST_KEY_REJECTED``,
    ``CREDENTIAL_MISSING``, ``PATH_MISSING``, ``CONNECTION_FAILED``, ``TRANSFER_FAILED``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFile:
    """A file as a listing shows it.

    Attributes:
        name: relative to the feed's location.
        size: bytes.
        mtime: last modification, UTC (None where the store has none).
        etag: the store's content tag (S3), or None.
    """

    name: str
    size: int
    mtime: datetime | None
    etag: str | None = None


class RemoteStore(Protocol):
    """What pulling needs of a place files are delivered to."""

    def files(self) -> list[RemoteFile]:
        """Every file directly in the location (names not yet checked or filtered)."""
        ...

    def download(self, file: RemoteFile, out: BinaryIO) -> None:
        """Stream the file's bytes into ``out``."""
        ...

    def archive(self, file: RemoteFile, archive_path: str) -> None:
        """Move the file into ``archive_path``."""
        ...

    def delete(self, file: RemoteFile) -> None:
        """Remove the file."""
        ...

    def describe(self, name: str) -> str:
        """A URL-like name for the file, for lineage and messages (no secrets)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def unsafe_name(name: str) -> str | None:
    """Why a listed name must not be touched, or None when it is safe.

    Refused: absolute paths, ``..`` segments, backslashes and control characters.
    """
    if not name:
        return "empty name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "control character in name"
    if name.startswith("/") or "\\" in name:
        return "absolute path or backslash in name"
    if ".." in PurePosixPath(name).parts:
        return "'..' in name"
    return None


def matches(name: str, pattern: str) -> bool:
    """Whether a safe name is a direct child matching the feed's glob."""
    return "/" not in name and fnmatch.fnmatchcase(name, pattern)


# ------------------------------------------------------------------------------- folder


class FolderStore:
    """A local drop folder."""

    def __init__(self, feed: FolderFeed) -> None:
        self._root = feed.path
        if not self._root.is_dir():
            raise FeedError("PATH_MISSING", f"folder {self._root} does not exist")

    def _guard(self, action: Callable[[], Any], what: str) -> Any:
        try:
            return action()
        except OSError as exc:
            raise FeedError("TRANSFER_FAILED", f"{self.describe(what)}: {exc}") from None

    def files(self) -> list[RemoteFile]:
        result: list[RemoteFile] = self._guard(self._scan, "")
        return result

    def _scan(self) -> list[RemoteFile]:
        out: list[RemoteFile] = []
        for entry in os.scandir(self._root):
            if entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                out.append(
                    RemoteFile(
                        name=entry.name,
                        size=info.st_size,
                        mtime=datetime.fromtimestamp(info.st_mtime, UTC),
                    )
                )
        return out

    def download(self, file: RemoteFile, out: BinaryIO) -> None:
        def copy() -> None:
            with (self._root / file.name).open("rb") as source:
                shutil.copyfileobj(source, out, _CHUNK)

        self._guard(copy, file.name)

    def archive(self, file: RemoteFile, archive_path: str) -> None:
        target = Path(archive_path)
        if not target.is_absolute():
            target = self._root / target

        def move() -> None:
            target.mkdir(parents=True, exist_ok=True)
            os.replace(self._root / file.name, target / file.name)

        self._guard(move, file.name)

    def delete(self, file: RemoteFile) -> None:
        self._guard(lambda: (self._root / file.name).unlink(missing_ok=True), file.name)

    def describe(self, name: str) -> str:
        return str(self._root / name)

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------------- sftp


def _secret(env: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise FeedError("CREDENTIAL_MISSING", f"environment variable {env} is not set")
    return value


class SftpStore:
    """A directory on an SFTP server; the host key must already be known (no auto-accept)."""

    def __init__(self, feed: SftpFeed) -> None:
        import paramiko

        self._feed = feed
        self._client = paramiko.SSHClient()
        try:
            self._client.load_host_keys(str(feed.known_hosts))
        except OSError as exc:
            raise FeedError(
                "HOST_KEY_REJECTED", f"cannot read known_hosts {feed.known_hosts}: {exc.strerror}"
            ) from None
        self._client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{feed.username}@{feed.host}:{feed.port}"
        try:
            self._client.connect(
                feed.host,
                port=feed.port,
                username=feed.username,
                key_filename=str(feed.key_file) if feed.key_file else None,
                password=_secret(feed.password_env) if feed.password_env else None,
                look_for_keys=False,
                allow_agent=False,
                timeout=15,
                banner_timeout=15,
                auth_timeout=15,
            )
            self._sftp = self._client.open_sftp()
            self._sftp.chdir(feed.path)
        except paramiko.BadHostKeyException:
            self._client.close()
            raise FeedError(
                "HOST_KEY_REJECTED", f"{where}: host key differs from known_hosts"
            ) from None
        except paramiko.AuthenticationException:
            self._client.close()
            raise FeedError("LOGIN_REFUSED", f"{where}: login refused") from None
        except paramiko.SSHException as exc:
            self._client.close()
            code = (
                "HOST_KEY_REJECTED"
                if "not found in known_hosts" in str(exc)
                else ("CONNECTION_FAILED")
            )
            raise FeedError(code, f"{where}: {exc}") from None
        except FileNotFoundError:
            self._client.close()
            raise FeedError("PATH_MISSING", f"{where}: no directory {feed.path}") from None
        except OSError as exc:
            self._client.close()
            raise FeedError("CONNECTION_FAILED", f"{where}: {exc}") from None

    def _guard(self, action: Callable[[], Any], what: str) -> Any:
        import paramiko

        try:
            return action()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise FeedError(
                "TRANSFER_FAILED", f"{self.describe(what)}: {exc or 'dropped'}"
            ) from None

    def files(self) -> list[RemoteFile]:
        entries = self._guard(self._sftp.listdir_attr, "")
        return [
            RemoteFile(
                name=e.filename,
                size=e.st_size or 0,
                mtime=datetime.fromtimestamp(e.st_mtime, UTC) if e.st_mtime else None,
            )
            for e in entries
            if e.st_mode is not None and stat.S_ISREG(e.st_mode)
        ]

    def download(self, file: RemoteFile, out: BinaryIO) -> None:
        self._guard(lambda: self._sftp.getfo(file.name, out), file.name)

    def archive(self, file: RemoteFile, archive_path: str) -> None:
        def move() -> None:
            try:
                self._sftp.stat(archive_path)
            except FileNotFoundError:
                self._sftp.mkdir(archive_path)
            self._sftp.posix_rename(file.name, f"{archive_path.rstrip('/')}/{file.name}")

        self._guard(move, file.name)

    def delete(self, file: RemoteFile) -> None:
        self._guard(lambda: self._sftp.remove(file.name), file.name)

    def describe(self, name: str) -> str:
        f = self._feed
        return f"sftp://{f.username}@{f.host}:{f.port}/{PurePosixPath(f.path, name)}"

    def close(self) -> None:
        self._client.close()


# ----------------------------------------------------------------------------------- s3


class S3Store:
    """Objects directly under a prefix of an S3 bucket."""

    def __init__(self, feed: S3Feed) -> None:
        import boto3
        from botocore.config import Config

        self._feed = feed
        self._client = boto3.client(
            "s3",
            region_name=feed.region,
            endpoint_url=feed.endpoint_url,
            aws_access_key_id=_secret(feed.access_key_env),
            aws_secret_access_key=_secret(feed.secret_key_env),
            config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 2}),
        )

    def _guard(self, action: Callable[[], Any], what: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                raise FeedError(
                    "LOGIN_REFUSED", f"{self.describe(what)}: access refused ({code})"
                ) from None
            if code in ("NoSuchBucket", "NoSuchKey", "404"):
                raise FeedError("PATH_MISSING", f"{self.describe(what)}: {code}") from None
            raise FeedError("TRANSFER_FAILED", f"{self.describe(what)}: {code}") from None
        except (BotoCoreError, OSError) as exc:
            raise FeedError("TRANSFER_FAILED", f"{self.describe(what)}: {exc}") from None

    def files(self) -> list[RemoteFile]:
        def run() -> list[RemoteFile]:
            out: list[RemoteFile] = []
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._feed.bucket, Prefix=self._feed.prefix):
                for item in page.get("Contents", []):
                    out.append(
                        RemoteFile(
                            name=item["Key"][len(self._feed.prefix) :],
                            size=int(item["Size"]),
                            mtime=item["LastModified"].astimezone(UTC),
                            etag=str(item.get("ETag", "")).strip('"') or None,
                        )
                    )
            return out

        result: list[RemoteFile] = self._guard(run, "")
        return result

    def download(self, file: RemoteFile, out: BinaryIO) -> None:
        def run() -> None:
            body = self._client.get_object(
                Bucket=self._feed.bucket, Key=self._feed.prefix + file.name
            )["Body"]
            for block in body.iter_chunks(_CHUNK):
                out.write(block)

        self._guard(run, file.name)

    def archive(self, file: RemoteFile, archive_path: str) -> None:
        key = self._feed.prefix + file.name
        # relative to the feed's prefix, like a folder's archive; "/..." is from the bucket root
        base = (
            archive_path[1:] if archive_path.startswith("/") else self._feed.prefix + archive_path
        )
        target = base.rstrip("/") + "/" + file.name

        def run() -> None:
            self._client.copy_object(
                Bucket=self._feed.bucket,
                Key=target,
                CopySource={"Bucket": self._feed.bucket, "Key": key},
            )
            self._client.delete_object(Bucket=self._feed.bucket, Key=key)

        self._guard(run, file.name)

    def delete(self, file: RemoteFile) -> None:
        self._guard(
            lambda: self._client.delete_object(
                Bucket=self._feed.bucket, Key=self._feed.prefix + file.name
            ),
            file.name,
        )

    def describe(self, name: str) -> str:
        return f"s3://{self._feed.bucket}/{self._feed.prefix}{name}"

    def close(self) -> None:
        self._client.close()


def connect(feed: FolderFeed | SftpFeed | S3Feed) -> RemoteStore:
    """Open the store a feed names.

    Raises:
        FeedError: the store cannot be reached, logged into or found.
    """
    if isinstance(feed, FolderFeed):
        return FolderStore(feed)
    if isinstance(feed, SftpFeed):
        return SftpStore(feed)
    return S3Store(feed)
