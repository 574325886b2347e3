"""The push batch's size adapts to the link: what the link carried in the last batch, scaled
to TARGET_SECONDS, within the setting; halved after a failure."""

from __future__ import annotations

from upstream_sync.stages.push import (
    MIN_BATCH_BYTES,
    TARGET_SECONDS,
    after_failure,
    fitted_budget,
)

CAP = 256 * 1024


def test_a_fast_link_gets_the_whole_setting() -> None:
    assert fitted_budget(CAP, 0.05, CAP) == CAP  # answered in 50 ms: the setting, no more


def test_a_slow_link_gets_what_it_carries_in_the_target_time() -> None:
    # 256 KiB took 60 s (about 4 KiB/s of JSON): the next batch is what 10 s carry.
    budget = fitted_budget(CAP, 60.0, CAP)
    assert budget == int(CAP / 60.0 * TARGET_SECONDS)
    assert MIN_BATCH_BYTES < budget < CAP
    # And it grows back as the link speeds up, never past the setting.
    assert fitted_budget(budget, 1.0, CAP) == CAP


def test_never_below_the_floor_nor_above_a_small_setting() -> None:
    assert fitted_budget(1000, 600.0, CAP) == MIN_BATCH_BYTES
    assert fitted_budget(1000, 600.0, 1024) == 1024  # a setting below the floor wins
    assert fitted_budget(10**6, 0.01, 1024) == 1024


def test_a_failure_halves_the_budget_down_to_the_floor() -> None:
    assert after_failure(CAP, CAP) == CAP // 2
    assert after_failure(MIN_BATCH_BYTES, CAP) == MIN_BATCH_BYTES
    assert after_failure(CAP, 1024) == 1024
