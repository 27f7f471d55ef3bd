"""The feeds file (YAML): where scheduled imports come from, and what to do with each file.

Credentials are only ever named here (an environment variable, a key file path), never
written: the values are read when connecting and are never stored or printed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ratebook.errors import ConfigError, InputError
from ratebook.model.stream import StreamConfig
from ratebook.sources.cdr_profiles import load_cdr_profile
from ratebook.sources.dates import is_zone
from ratebook.sources.formats import FORMATS, freeswitch_template
from ratebook.sources.yamlfile import load_model


class _FeedBase(BaseModel):
    """Settings every feed has.

    Attributes:
        name: unique feed name (letters, digits, ``.``, ``_``, ``-``).
        entity: entity code; the only entity when omitted.
        format: a feed format (``generic``, ``asterisk``, ``freeswitch``).
        template: for ``freeswitch``, the ``mod_cdr_csv`` template line the files are
            written with, when it is not the stock ``example`` one.
        profile: a mapping profile (a shipped one's name, or a YAML file's path) naming the
            files' layout, instead of ``format``.
        origin: the records' origin; the feed name when omitted.
        timezone: zone of times without an offset in the files, and of the schedule.
        pattern: glob that file names must match, e.g. ``Master-*.csv``.
        schedule: cron expression (5 fields) in ``timezone`` (UTC when not set).
        after_import: ``leave`` the file, ``move`` it to ``archive_path``, or ``delete`` it.
        archive_path: where ``move`` puts files (a folder, remote directory or key prefix).
        min_age_seconds: a file modified more recently than this is left for a later run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
    entity: str | None = None
    format: str = "generic"
    template: str | None = None
    profile: str | None = None
    origin: str | None = None
    timezone: str | None = None
    pattern: str = "*"
    schedule: str = "*/15 * * * *"
    after_import: Literal["leave", "move", "delete"] = "leave"
    archive_path: str | None = None
    min_age_seconds: Annotated[int, Field(ge=0)] = 60

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r} (known: {', '.join(sorted(FORMATS))})")
        return value

    @model_validator(mode="after")
    def _readable_template(self) -> _FeedBase:
        if self.profile is not None:
            if self.template is not None or self.format != "generic":
                raise ValueError("a profile names its layout: give it without format or template")
            try:
                load_cdr_profile(self.profile)
            except InputError as error:
                raise ValueError(error.message) from None
        if self.template is not None:
            if self.format != "freeswitch":
                raise ValueError(f"a template is FreeSWITCH's; format {self.format!r} has none")
            try:
                freeswitch_template(self.template)
            except InputError as error:
                raise ValueError(error.message) from None
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronSim(value, datetime.now(UTC))
        except CronSimError as exc:
            raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _archive(self) -> _FeedBase:
        if self.after_import == "move" and not self.archive_path:
            raise ValueError("after_import: move needs archive_path")
        return self

    @property
    def record_origin(self) -> str:
        """The origin given to the feed's records."""
        return self.origin or self.name

    @property
    def zone(self) -> str:
        """The zone the schedule runs in."""
        return self.timezone or "UTC"


class FolderFeed(_FeedBase):
    """Files dropped into a local folder (``path``)."""

    kind: Literal["folder"]
    path: Path


class SftpFeed(_FeedBase):
    """Files on an SFTP server. The server's host key must be in ``known_hosts``.

    Attributes:
        key_file: private key for key authentication.
        password_env: environment variable holding a password (instead of a key).
    """

    kind: Literal["sftp"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    username: str
    path: str = "."
    key_file: Path | None = None
    password_env: str | None = None
    known_hosts: Path

    @model_validator(mode="after")
    def _credentials(self) -> SftpFeed:
        if (self.key_file is None) == (self.password_env is None):
            raise ValueError("give exactly one of key_file and password_env")
        return self


class S3Feed(_FeedBase):
    """Objects in an S3 bucket under ``prefix``.

    Attributes:
        endpoint_url: for S3-compatible stores; AWS when omitted.
        access_key_env, secret_key_env: environment variables holding the credentials.
    """

    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 (a variable name)


class KafkaFeed(BaseModel):
    """A Kafka stream that ``ratebook serve`` consumes beside the API, as ``ratebook consume``
    does (``model.stream.StreamConfig`` says what each setting does; docs/streaming.md).

    Attributes:
        client: librdkafka settings passed through; credentials belong in
            ``client_env`` (setting -> environment variable), never in the file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kafka"]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
    bootstrap_servers: str
    topics: Annotated[list[str], Field(min_length=1)]
    group: str = "ratebook"
    entity: str | None = None
    entity_header: str = "ratebook-entity"
    origin: str = "kafka"
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    batch_wait_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    dead_letter_topic: str | None = None
    client: dict[str, str] = Field(default_factory=dict)
    client_env: dict[str, str] = Field(default_factory=dict)

    def stream(self) -> StreamConfig:
        """The consumer's settings, credentials read from the environment now.

        Raises:
            ConfigError: as ``StreamConfig`` does; ``CREDENTIAL_MISSING`` for an unset variable.
        """
        client = dict(self.client)
        for setting, variable in self.client_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise ConfigError(
                    "CREDENTIAL_MISSING",
                    f"feed {self.name!r}: {setting} names ${variable}, which is not set",
                )
            client[setting] = value
        return StreamConfig(
            bootstrap=self.bootstrap_servers,
            topics=tuple(self.topics),
            group=self.group,
            entity=self.entity,
            entity_header=self.entity_header,
            origin=self.origin,
            batch_size=self.batch_size,
            batch_wait=self.batch_wait_ms / 1000,
            dead_letter_topic=self.dead_letter_topic,
            client=client,
        )


Feed = Annotated[FolderFeed | SftpFeed | S3Feed | KafkaFeed, Field(discriminator="kind")]


class FeedsFile(BaseModel):
    """The whole feeds file: ``feeds:`` followed by a list of feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feeds: list[Feed]

    @model_validator(mode="after")
    def _unique(self) -> FeedsFile:
        names = [f.name for f in self.feeds]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"feed name {name!r} is used twice")
        return self


def load_feeds(path: Path) -> list[FolderFeed | SftpFeed | S3Feed]:
    """Read and check a feeds file: its file feeds (its streams are ``load_streams``').

    Raises:
        InputError: ``FILE_NOT_FOUND``, ``BAD_YAML`` (with the line) or ``BAD_FEED`` naming the
            setting at fault, e.g. ``feeds[1].host``.
    """
    feeds = load_model(path, FeedsFile, "BAD_FEED").feeds
    return [f for f in feeds if not isinstance(f, KafkaFeed)]


def load_streams(path: Path) -> list[KafkaFeed]:
    """The ``kind: kafka`` feeds of a feeds file (errors as ``load_feeds``)."""
    feeds = load_model(path, FeedsFile, "BAD_FEED").feeds
    return [f for f in feeds if isinstance(f, KafkaFeed)]
