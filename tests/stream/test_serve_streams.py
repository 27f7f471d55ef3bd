"""A ``kind: kafka`` feed in feeds.yaml: ``ratebook serve`` consumes it beside the API, and its
positions, lag and batch time show in ``/metrics`` and ``ratebook feeds status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine
from typer.testing import CliRunner

from ratebook.cli import app
from tests.conftest import one_customer, write
from tests.stream.conftest import FAST_GROUP, Broker
from tests.stream.test_consume import START
from tests.support.servers import free_port, wait_for_port


def test_serve_consumes_the_feeds_files_streams(
    my_engine: Engine, tmp_path: Path, broker: Broker
) -> None:
    one_customer(my_engine, tmp_path)
    topic = broker.topic(partitions=1)
    client = "\n".join(f'      {k}: "{v}"' for k, v in FAST_GROUP.items())
    feeds = write(
        tmp_path / "feeds.yaml",
        f"""feeds:
  - kind: kafka
    name: cdrs
    bootstrap_servers: {broker.bootstrap}
    topics: [{topic}]
    group: billing
    entity: MY1
    batch_wait_ms: 100
    client:
{client}
""",
    )
    url = my_engine.url.render_as_string(hide_password=False)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ratebook", "--db", url, "serve", "--port", str(port),
         "--feeds", str(feeds)],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, seconds=60)
        broker.produce(
            topic,
            [
                (
                    b"A",
                    json.dumps(
                        {
                            "record_id": f"s{n}",
                            "start_time": START,
                            "quantity": 60,
                            "account": "A",
                            "destination": "+60312345678",
                        }
                    ).encode(),
                    None,
                )
                for n in range(3)
            ],
        )
        wanted = f'ratebook_stream_next_offset{{group="billing",partition="0",topic="{topic}"}} 3.0'
        metrics = ""
        end = time.monotonic() + 60
        while wanted not in metrics and time.monotonic() < end:
            time.sleep(0.5)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert wanted in metrics
        assert "ratebook_stream_batch_seconds" in metrics
        assert "ratebook_stream_events_per_second" in metrics
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, errors = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
            raise
    assert "Traceback" not in errors, errors
    assert f"consuming {topic} as group 'billing' (feed cdrs)" in errors

    status = CliRunner().invoke(app, ["--db", url, "feeds", "status", "--feeds", str(feeds)])
    assert status.exit_code == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if topic in line]
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[:4] == ["billing", topic, "0", "3"]  # group, topic, partition, next offset

    # without a feeds file at hand, the streams' positions alone
    alone = CliRunner().invoke(app, ["--db", url, "feeds", "status"])
    assert alone.exit_code == 0, alone.stderr
    assert topic in alone.stdout
    assert "Feed status" not in alone.stdout
