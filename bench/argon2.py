"""Argon2id password checks: time per verification with the box's default parameters and
a few alternatives, on this machine, next to an estimate for a Raspberry Pi 4.

The estimate multiplies by PI4_FACTOR, an assumption (a Pi 4's Cortex-A72 at 1.5-1.8 GHz with
LPDDR4 is several times slower than a current x86 core at memory-hard hashing). Run this file
on a real Pi to replace the estimate with a measurement. Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.settings import Settings
from edge.users.passwords import Hasher, Params

PI4_FACTOR = float(os.environ.get("BENCH_PI4_FACTOR", "3.5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "9"))
TARGET_PI4 = (0.1, 0.5)  # seconds per check on a Pi 4 (users issue)


def time_check(params: Params) -> float:
    hasher = Hasher(params)
    verifier = hasher.hash("correct horse battery")
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        hasher.check("correct horse battery", verifier)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    default = Settings()
    candidates = {
        "OWASP minimum (19 MiB, t=2)": Params(19456, 2),
        "box default": Params(default.argon2_memory_kib, default.argon2_iterations),
        "64 MiB, t=3": Params(65536, 3),
    }
    # The baseline: a plain SHA-256 of the password, what a naive register would store.
    import hashlib

    start = time.perf_counter()
    for _ in range(10_000):
        hashlib.sha256(b"salt" + b"correct horse battery").digest()
    sha = (time.perf_counter() - start) / 10_000
    results = {}
    for name, params in candidates.items():
        here = time_check(params)
        pi4 = here * PI4_FACTOR
        ok = TARGET_PI4[0] <= pi4 <= TARGET_PI4[1]
        results[name] = {
            "memory_kib": params.memory_kib,
            "iterations": params.iterations,
            "ms_here": round(here * 1000, 1),
            "ms_pi4_estimate": round(pi4 * 1000),
            "vs_sha256": round(here / sha),
            "in_pi4_target": ok,
        }
        print(
            f"{name:<30} {here * 1000:7.1f} ms here, ~{pi4 * 1000:5.0f} ms on a Pi 4 "
            f"(x{PI4_FACTOR} assumed){'  <- within 0.1-0.5 s' if ok else ''}; "
            f"{here / sha:,.0f}x a SHA-256"
        )
    print(
        json.dumps(
            {
                "pi4_factor_assumed": PI4_FACTOR,
                "sha256_us": round(sha * 1e6, 2),
                "candidates": results,
            }
        )
    )


if __name__ == "__main__":
    main()
