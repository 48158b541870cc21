"""Benchmark plumbing: shared maps, and a summary of speed-up ratios against the
reference, all measured in the same run (absolute times on a shared CPU mean little).

CI runs these with timing disabled (each body runs once, results asserted); run
``python -m pytest bench --benchmark-enable`` for figures."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _shared import (  # noqa: E402,F401  (fixtures shared with the tests)
    dance_mp4, every_backend_in_ci, media, model_onnx, model_pb, shared_models,
)

# (group, case) -> {backend: median seconds}
RESULTS: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)


def record(benchmark, group: str, case: str, backend: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and not benchmark.disabled:
        RESULTS[(group, case)][backend] = stats.stats.median


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("posefast: speed-up against the reference (same run, medians)")
    tr.write_line(f"{'group':<24}{'case':<26}{'python ms':>11}{'numba ms':>11}{'native ms':>11}"
                  f"{'numba x':>10}{'native x':>10}{'native/numba':>14}")
    for (group, case), res in sorted(RESULTS.items()):
        ms = {b: res[b] * 1e3 for b in res}
        ref = res.get("python")

        def ratio(b):
            return f"{ref / res[b]:.0f}" if ref and b in res else "-"

        nn = f"{res['numba'] / res['native']:.1f}" if "numba" in res and "native" in res else "-"
        cols = "".join(f"{ms[b]:>11.3f}" if b in ms else f"{'-':>11}" for b in ("python", "numba", "native"))
        tr.write_line(f"{group:<24}{case:<26}{cols}{ratio('numba'):>10}{ratio('native'):>10}{nn:>14}")


@pytest.fixture(scope="session")
def record_result():
    return record
