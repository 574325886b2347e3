"""The box's side of the registry escrow: the registry keeps a secret per box (K_net) that
opens the box's registry key slot, so that after a reboot the box unlocks with nobody logged
in, as soon as the WAN is up.

- `register`: while unlocked, the box sends its **unlock key** (an Ed25519 public key of its
  own, signed with the device key like every sync request) and gets K_net.
- `release`: after a reboot, locked (the device key is sealed under the data key), the box
  asks for K_net again, signed with the unlock key, which the registry accepts for nothing
  else. A box its registry's operator reported stolen is refused (403): it stays locked
  until a member of staff logs in at it.

The unlock key is a plain file (mode 0600) in the box's home: whoever holds the card holds
it too, which is why the registry's refusal, not the key, protects a stolen box.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from edge.identity import create_device_key, load_device_key, public_key_hex
from upstream_sync import protocol as p
from upstream_sync.transport import Enrollment, RegistryRefused, signed_exchange

UNLOCK_KEY_FILE = "unlock.key"
# A locked box asks in the background; an unlock at `edge enroll` or by the worker waits
# this long for the registry.
ESCROW_TIMEOUT = 10.0
REGISTER_PATH, RELEASE_PATH = "/v1/escrow/register", "/v1/escrow/release"


def unlock_key_path(home: Path) -> Path:
    return home / UNLOCK_KEY_FILE


def unlock_public_key(home: Path) -> str:
    """The box's unlock key (public, hex), made the first time it is needed."""
    path = unlock_key_path(home)
    try:
        return create_device_key(path)
    except FileExistsError:  # made before, or by the other process just now
        return public_key_hex(load_device_key(path))


def register(
    who: Enrollment, device_key: Path, home: Path, now: datetime, timeout: float = ESCROW_TIMEOUT
) -> bytes:
    """Register the box's unlock key with its registry (signed with the device key); the
    secret that opens the registry key slot. Raises RegistryRefused (`answered` 403: the box
    was reported stolen) or an exchange error (transport.EXCHANGE_ERRORS)."""
    body = p.encode(p.EscrowRegistration(unlock_public_key(home)))
    answer = signed_exchange(who, device_key, REGISTER_PATH, body, now, timeout)
    return _secret(answer.body)


def release(
    who: Enrollment, home: Path, boot: str, now: datetime, timeout: float = ESCROW_TIMEOUT
) -> bytes:
    """The secret that opens the registry key slot, asked for with the unlock key after a
    reboot. Raises RegistryRefused (`answered` 403: reported stolen, 429: asked too often,
    401: no unlock key registered) or an exchange error."""
    path = unlock_key_path(home)
    if not path.exists():
        raise RegistryRefused(f"This box has no unlock key ({path.name} is missing)")
    body = p.encode(p.EscrowRelease(boot))
    answer = signed_exchange(who, path, RELEASE_PATH, body, now, timeout)
    return _secret(answer.body)


def reported_stolen(exc: BaseException) -> bool:
    """Whether a failed request was refused because the box was reported stolen."""
    return isinstance(exc, RegistryRefused) and exc.answered == 403


def _secret(body: bytes) -> bytes:
    got: p.EscrowSecret = p.decode(body, p.EscrowSecret, 4096)
    try:
        secret = bytes.fromhex(got.k_net)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise RegistryRefused("The registry's answer holds no 32-byte unlock secret")
    return secret
