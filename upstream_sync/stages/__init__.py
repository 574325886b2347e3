"""The box's sync stages, one module each, and the round that runs them in order
(`round.py`): `pull` (carrying the `resync` after a restore), the push's backoff, `push`.
Where each stage stands is kept in the journal (edge/journal/syncstages.py), so the box's
pages, its API and `edge doctor` read it without importing this package."""
