"""Password verifiers: Argon2id in PHC strings, so each verifier carries its parameters and
can be upgraded at the next successful login when the box's parameters change.

No password or verifier is ever logged.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from edge.errors import FieldProblem

MAX_LENGTH = 256  # longer inputs are refused before hashing: hashing is the expensive part
# Each check holds argon2_memory_kib of RAM; two at a time keep a 2 GB Pi comfortable.
_concurrency = threading.BoundedSemaphore(2)
_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


@dataclass(frozen=True)
class Params:
    memory_kib: int
    iterations: int
    lanes: int = 1


class Hasher:
    """Hashes and checks passwords with the box's Argon2id parameters."""

    def __init__(self, params: Params) -> None:
        self.params = params
        # Checked for unknown users so that answering them takes as long as a wrong password.
        self._decoy = self.hash("decoy password that no user has " + os.urandom(8).hex())

    def hash(self, password: str) -> str:
        kdf = Argon2id(
            salt=os.urandom(16),
            length=32,
            iterations=self.params.iterations,
            lanes=self.params.lanes,
            memory_cost=self.params.memory_kib,
        )
        with _concurrency:
            return kdf.derive_phc_encoded(password.encode())

    def check(self, password: str, verifier: str | None) -> tuple[bool, bool]:
        """(matches, needs_upgrade). A missing verifier is checked against a decoy."""
        encoded = verifier or self._decoy
        try:
            with _concurrency:
                Argon2id.verify_phc_encoded(password.encode(), encoded)
        except (InvalidKey, ValueError):
            return False, False
        if verifier is None:
            return False, False
        return True, self._params_of(verifier) != self.params

    @staticmethod
    def _params_of(verifier: str) -> Params | None:
        m = _PARAMS.match(verifier)
        return Params(int(m[1]), int(m[2]), int(m[3])) if m else None


# Easy to read out and type: no 0/O, 1/l/I; groups of four.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password() -> str:
    """A one-time password an admin can read out: 12 letters and digits in 3 groups of 4."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))


def password_problems(
    password: str, username: str, min_length: int, field: str = "password"
) -> list[FieldProblem]:
    """What is wrong with a new password, in words a person can act on."""
    if len(password) < min_length:
        return [
            FieldProblem(
                field, "min_length", f"The password must be at least {min_length} characters"
            )
        ]
    if len(password) > MAX_LENGTH:
        return [
            FieldProblem(
                field, "max_length", f"The password must be at most {MAX_LENGTH} characters"
            )
        ]
    if password.strip().casefold() == username.casefold():
        return [FieldProblem(field, "not_username", "The password cannot be the username")]
    return []
