"""`edge-fleet backup`: an online, verified backup made on each box, pulled to the laptop,
checked against the box's sha256 and verified again here (hash chain, replay, integrity)."""

from __future__ import annotations

import os
from pathlib import Path

from edge.journal.verify import verify
from provisioning.errors import BoxRefused, Unreachable
from provisioning.onbox.layout import sha256_file as sha256
from provisioning.transport import RELEASE, Session


def pull(session: Session, dest: Path) -> tuple[Path, int]:
    """The box's new backup, as a verified file under `dest`; (path, actions in it)."""
    made = session.call(RELEASE, "backup", timeout=600)
    remote = str(made["path"])
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    local = dest / Path(remote).name
    part = local.with_name(local.name + ".part")
    try:
        session.sftp().get(remote, str(part))
    except OSError as exc:
        raise Unreachable(f"download of the backup cut ({exc})") from None
    os.chmod(part, 0o600)  # personal data: this user only
    if sha256(part) != made["sha256"]:
        part.unlink()
        raise Unreachable("the backup arrived damaged; trying again")
    report = verify(part)
    if not report.ok:
        part.unlink()
        raise BoxRefused(f"the backup does not verify: {report.problems[0]}")
    part.replace(local)
    return local, report.actions
