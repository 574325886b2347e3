"""Talking to the national registry (docs/sync-protocol.md).

- `protocol`: the wire messages, signatures and capabilities, shared by both sides;
- the box's side: `transport` (signed exchanges), `enrollment`, `capabilities` (what the
  registry speaks), `outbox` and `clocksteps` (what a push sends), `stages/` (pull, push and
  the round that runs them in order), `lookups` (search, bring here), `login_check`, and
  `worker` (the huey consumer);
- `registry/`: the reference national registry, a program of its own (`edge-registry`),
  which imports only `protocol` from here.
"""
