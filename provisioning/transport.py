"""One SSH connection to one box (never shared between threads): host key checked before
anything is sent, keys only, keepalive, timeouts on everything; commands with JSON answers;
resumable, hash-checked uploads.

The on-box programs are called by absolute path. EDGE_ROOT, which a test box's sshd sets,
places a whole box inside a folder; on a real box it is unset.
"""

from __future__ import annotations

import json
import shlex
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko

from provisioning.errors import BoxRefused, FleetError, Unreachable
from provisioning.inventory import Box
from provisioning.trust import CertTransport, KnownHosts, PinTransport, verify_host

RELEASE = '"${EDGE_ROOT:-}/usr/local/sbin/edge-release"'
PAIR = '"${EDGE_ROOT:-}/usr/local/sbin/edge-pair"'
CHUNK = 32768
Progress = Callable[[int], None]


def load_key(path: str, passphrase: str | None = None) -> paramiko.PKey:
    """The officer's private key (ed25519 recommended); its passphrase is asked by the CLI."""
    try:
        return paramiko.PKey.from_path(Path(path).expanduser(), passphrase)
    except FileNotFoundError:
        raise FleetError(f"no SSH key at {path}: make one with `ssh-keygen -t ed25519`") from None


def open_transport(address: str, port: int, cert: bool, timeout: float = 15) -> paramiko.Transport:
    """The SSH handshake only (no authentication yet), asking for the ed25519 host key, or
    for its certificate when the fleet trusts an office CA."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise Unreachable(f"cannot connect to {address}:{port} ({exc.strerror or exc})") from None
    transport = (CertTransport if cert else PinTransport)(sock)
    transport.banner_timeout = timeout
    transport.auth_timeout = timeout
    transport.set_keepalive(15)
    try:
        transport.start_client(timeout=timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        if cert and "key" in str(exc).lower():
            raise FleetError(f"{address}:{port} has no host certificate ({exc})") from None
        raise Unreachable(f"SSH handshake with {address}:{port} failed ({exc})") from None
    return transport


def connect(
    box: Box,
    hosts: KnownHosts,
    key: paramiko.PKey,
    now: Callable[[], float],
    timeout: float = 15,
) -> Session:
    """A session with a box whose host key (or certificate) this fleet trusts."""
    transport = open_transport(box.address, box.port, box.trust == "ca", timeout)
    try:
        server_key = transport.get_remote_server_key()
        verify_host(server_key, box.box_id, box.name, box.where, hosts, now())
        transport.auth_publickey(box.user, key)
    except paramiko.AuthenticationException:
        transport.close()
        raise FleetError(
            "the box refused this laptop's key: it was paired with another key"
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        raise Unreachable(f"the connection dropped ({exc})") from None
    except BaseException:
        transport.close()
        raise
    return Session(box, transport)


class Session:
    """Commands and files on one box over one authenticated transport."""

    def __init__(self, box: Box, transport: paramiko.Transport) -> None:
        self.box, self.transport = box, transport
        self.sent = 0  # bytes uploaded (file contents and command input)
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def run(self, command: str, stdin: bytes = b"", timeout: float = 600) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of a command on the box."""
        try:
            chan = self.transport.open_session(timeout=30)
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
                self.sent += len(stdin)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while not chan.exit_status_ready() or chan.recv_ready() or chan.recv_stderr_ready():
                if chan.recv_ready():
                    out += chan.recv(CHUNK)
                elif chan.recv_stderr_ready():
                    err += chan.recv_stderr(CHUNK)
                else:
                    if time.monotonic() > deadline or not self.transport.is_active():
                        raise Unreachable(f"no answer in {timeout:.0f} s")
                    time.sleep(0.02)
            status = chan.recv_exit_status()
            chan.close()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"the connection dropped ({exc})") from None
        return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def call(self, program: str, *args: str, data: Any = None, timeout: float = 600) -> Any:
        """An on-box program's JSON answer; BoxRefused with its message when not `ok`."""
        command = " ".join([program, *(shlex.quote(a) for a in args)])
        stdin = json.dumps(data).encode() if data is not None else b""
        status, out, err = self.run(command, stdin, timeout)
        answer = last_json(out)
        if answer is None:
            why = (err.strip() or out.strip() or f"exit status {status}")[-500:]
            if status == 127:
                why = "the on-box tools are not installed (is this an edge box image?)"
            raise BoxRefused(why)
        if not answer.get("ok"):
            raise BoxRefused(str(answer.get("error") or "refused"))
        return answer

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.transport.open_sftp_client()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise Unreachable(f"no SFTP ({exc})") from None
        if self._sftp is None:
            raise BoxRefused("the box offers no SFTP")
        return self._sftp

    def upload(self, local: Path, remote: str, progress: Progress | None = None) -> int:
        """Append what is missing to `remote` (a `.part` file kept across runs); returns the
        bytes sent. The box checks the sha256 before using the file."""
        size = local.stat().st_size
        sftp = self.sftp()
        try:
            try:
                have = sftp.stat(remote).st_size or 0
            except FileNotFoundError:
                have = 0
            if have > size:
                sftp.remove(remote)
                have = 0
            if progress and have:
                progress(have)
            if have == size:
                return 0
            with local.open("rb") as f, sftp.open(remote, "r+b" if have else "wb") as out:
                out.set_pipelined(True)
                out.seek(have)
                f.seek(have)
                sent = 0
                while block := f.read(CHUNK):
                    out.write(block)
                    sent += len(block)
                    self.sent += len(block)
                    if progress:
                        progress(len(block))
            return sent
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"upload of {local.name} cut ({exc})") from None

    def put_bytes(self, data: bytes, remote: str, mode: int) -> None:
        """A small file, written beside its place and renamed over it (never half-written)."""
        sftp = self.sftp()
        tmp = f"{remote}.fleet-new"
        try:
            with sftp.open(tmp, "wb") as out:
                out.write(data)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, remote)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"writing {remote} failed ({exc})") from None
        self.sent += len(data)


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None
