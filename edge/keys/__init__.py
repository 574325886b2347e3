"""Encryption at rest: the data key (DK) that opens journal.db, kept only wrapped in key slots
(`keyslots.json`) and, while the box is unlocked, in a RAM-only runtime file.

- `seal`: the primitives (X25519 sealing, AES-GCM wrapping, the password KEK).
- `slots`: the key slots file and each kind of slot (user, registry, recovery, setup).
- `runtime`: where the unlocked key lives while the box runs (never under the home).
- `box`: what the box's commands and processes call: create, find, unlock, rekey.
"""
