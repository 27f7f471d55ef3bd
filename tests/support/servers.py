"""Real servers on loopback for the feed tests: an SFTP server (asyncssh, key authentication),
an S3 endpoint (moto's server mode in its own process, with authentication on), and a TCP proxy
that can cut a connection part-way through, to break a transfer for real."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import boto3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class CuttingProxy:
    """Forwards 127.0.0.1:port to a target. After ``cut_after(n)``, the first connection to
    carry more than n bytes from the server is cut there (once)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, count: int) -> None:
        with self._lock:
            self._cut = count

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _should_cut(self, sent: int) -> bool:
        with self._lock:
            if self._cut is not None and sent > self._cut:
                self._cut = None
                return True
            return False

    def _pump(self, source: socket.socket, sink: socket.socket, downstream: bool) -> None:
        sent = 0
        try:
            while data := source.recv(16384):
                sent += len(data)
                if downstream and self._should_cut(sent):
                    sink.sendall(data[: len(data) // 2])
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


@dataclass
class SftpServer:
    """An asyncssh SFTP server rooted at ``root`` accepting ``client_key``."""

    root: Path
    port: int
    host_key_line: str  # for known_hosts, without the host part
    client_key: Path
    stranger_key: Path  # a key the server does not accept
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _server: Any
    _connections: list[Any]

    def known_hosts(self, path: Path, *ports: int) -> Path:
        path.write_text("".join(f"[127.0.0.1]:{p} {self.host_key_line}\n" for p in ports))
        return path

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()
            for connection in self._connections:
                connection.abort()
                await connection.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def start_sftp(directory: Path) -> SftpServer:
    root = directory / "sftp-root"
    root.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client = asyncssh.generate_private_key("ssh-ed25519")
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    client_path = directory / "client_key"
    client.write_private_key(str(client_path))
    stranger_path = directory / "stranger_key"
    stranger.write_private_key(str(stranger_path))
    authorized = directory / "authorized_keys"
    client.write_public_key(str(authorized))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    connections: list[Any] = []

    class Tracked(asyncssh.SSHServer):
        # every connection, from its first byte (even one that fails key exchange)
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            connections.append(conn)

    async def listen() -> Any:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            server_factory=Tracked,
            authorized_client_keys=str(authorized),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
        )

    server = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
    port = server.sockets[0].getsockname()[1]
    line = host_key.export_public_key("openssh").decode().strip()
    return SftpServer(
        root=root,
        port=port,
        host_key_line=line,
        client_key=client_path,
        stranger_key=stranger_path,
        _loop=loop,
        _thread=thread,
        _server=server,
        _connections=connections,
    )


@dataclass
class S3Server:
    """moto's S3 endpoint in its own process, authentication on."""

    url: str
    port: int
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]

    def client(self, endpoint: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_s3(bucket: str) -> S3Server:
    port = free_port()
    # the first four requests (user, key, policy, bucket) go unauthenticated; then auth is on
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    url = f"http://127.0.0.1:{port}"
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="ratebook")
    key = iam.create_access_key(UserName="ratebook")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="ratebook", PolicyName="all", PolicyDocument=json.dumps(policy))
    server = S3Server(
        url=url,
        port=port,
        access_key=key["AccessKeyId"],
        secret_key=key["SecretAccessKey"],
        process=process,
    )
    server.client().create_bucket(Bucket=bucket)
    return server


@contextlib.contextmanager
def ratebook_serve(
    db_url: str, cwd: Path, *arguments: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``ratebook serve`` on a free loopback port (with ``arguments``, e.g. ``--workers 2``),
    its URL and process once it listens (``env``: variables besides this process's). It is
    stopped at the end (unless it ended already) as Ctrl-C in a terminal stops it, by SIGINT
    to its whole process group, and its error output must then hold no traceback."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ratebook", "--db", db_url, "serve", "--port", str(port),
         *arguments],
        cwd=cwd,
        env={**os.environ, "RATEBOOK_EVENT_DAYS_BACK": "36500", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )  # fmt: skip
    try:
        wait_for_port(port, seconds=60)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert "Traceback" not in errors, errors
