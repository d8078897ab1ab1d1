"""Benchmark: nearest-10 places (core.places.index) over 100,000 places.

Run: .venv/bin/python bench/places.py

Builds 100,000 random places (fixed seed) around 114.917E 27.818N (in memory, no database), then runs
2,000 nearest-10 queries, one call per query, and measures p50/p99 milliseconds per query. The same
queries are answered by two brute forces, and every answer must agree with the index (same keys in the
same order, distances equal within 1 mm):

* pure Python: ``core.places.index.brute_force`` (haversine of every point, sorted) on a sample of
  ``N_PYTHON_BRUTE`` queries — ``brute_p50_ms`` and ``speedup`` (judged: ≥ 50×);
* numpy: vectorized haversine over all points + ``argpartition`` on all queries — reported as
  ``numpy_brute_p50_ms`` / ``numpy_speedup`` (not judged; about 40× on the reference machine).

The last line is one JSON object; "pass" needs no mismatch, p99 ≤ 2 ms and speedup ≥ 50×.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.geo.coords import EARTH_RADIUS_M  # noqa: E402
from core.places.index import NearestIndex, brute_force  # noqa: E402

SEED = 20261121
N_PLACES = 100_000
N_QUERIES = 2_000
K = 10
N_PYTHON_BRUTE = 50
CENTRE_LNG, CENTRE_LAT = 114.917, 27.818
SPREAD_DEG = 0.15  # ±0.15° ≈ ±15 km: the city and its surroundings
TARGET_P99_MS = 2.0
TARGET_SPEEDUP = 50.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def brute(
    lngs_rad: np.ndarray, lats_rad: np.ndarray, cos_lats: np.ndarray, lng: float, lat: float
) -> tuple[np.ndarray, np.ndarray]:
    phi = np.radians(lat)
    h = (
        np.sin((lats_rad - phi) / 2.0) ** 2
        + np.cos(phi) * cos_lats * np.sin((lngs_rad - np.radians(lng)) / 2.0) ** 2
    )
    d = 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    best = np.argpartition(d, K)[:K]
    order = np.lexsort((best, d[best]))
    return best[order], d[best][order]


def main() -> int:
    rng = np.random.default_rng(SEED)
    # Half uniform over the box, half clustered around the centre (denser downtown).
    half = N_PLACES // 2
    lngs = np.concatenate(
        [
            rng.uniform(CENTRE_LNG - SPREAD_DEG, CENTRE_LNG + SPREAD_DEG, half),
            rng.normal(CENTRE_LNG, SPREAD_DEG / 6, N_PLACES - half),
        ]
    )
    lats = np.concatenate(
        [
            rng.uniform(CENTRE_LAT - SPREAD_DEG, CENTRE_LAT + SPREAD_DEG, half),
            rng.normal(CENTRE_LAT, SPREAD_DEG / 8, N_PLACES - half),
        ]
    )
    points = [(key, float(x), float(y)) for key, (x, y) in enumerate(zip(lngs, lats, strict=True))]
    t0 = time.perf_counter()
    index = NearestIndex.build(points)
    build_s = time.perf_counter() - t0

    q_lngs = rng.uniform(CENTRE_LNG - SPREAD_DEG, CENTRE_LNG + SPREAD_DEG, N_QUERIES).tolist()
    q_lats = rng.uniform(CENTRE_LAT - SPREAD_DEG, CENTRE_LAT + SPREAD_DEG, N_QUERIES).tolist()

    for x, y in zip(q_lngs[:200], q_lats[:200], strict=True):  # warm-up
        index.nearest(x, y, K)
    times_ms: list[float] = []
    answers = []
    for x, y in zip(q_lngs, q_lats, strict=True):
        t = time.perf_counter()
        answer = index.nearest(x, y, K)
        times_ms.append((time.perf_counter() - t) * 1000)
        answers.append(answer)

    lngs_rad, lats_rad = np.radians(lngs), np.radians(lats)
    cos_lats = np.cos(lats_rad)
    brute_ms: list[float] = []
    mismatches = 0
    for x, y, answer in zip(q_lngs, q_lats, answers, strict=True):
        t = time.perf_counter()
        keys, dists = brute(lngs_rad, lats_rad, cos_lats, x, y)
        brute_ms.append((time.perf_counter() - t) * 1000)
        got_keys = [key for _, key in answer]
        got_dists = [d for d, _ in answer]
        if got_keys != keys.tolist() or not np.allclose(got_dists, dists, rtol=0, atol=1e-3):
            mismatches += 1

    python_ms: list[float] = []
    for x, y, answer in list(zip(q_lngs, q_lats, answers, strict=True))[:N_PYTHON_BRUTE]:
        t = time.perf_counter()
        expected = brute_force(points, x, y, K)
        python_ms.append((time.perf_counter() - t) * 1000)
        if expected != answer:
            mismatches += 1

    p50, p99 = statistics.median(times_ms), percentile(times_ms, 99)
    numpy_p50 = statistics.median(brute_ms)
    numpy_speedup = numpy_p50 / p50 if p50 > 0 else float("inf")
    brute_p50 = statistics.median(python_ms)
    speedup = brute_p50 / p50 if p50 > 0 else float("inf")
    passed = mismatches == 0 and p99 <= TARGET_P99_MS and speedup >= TARGET_SPEEDUP
    print(f"places: {N_PLACES:,} points, index built in {build_s:.2f} s; {N_QUERIES:,} nearest-{K} queries")
    print(f"  index (one call per query): p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(times_ms):.3f} ms")
    print(f"  brute force, pure Python over all points ({N_PYTHON_BRUTE} queries): p50 {brute_p50:.3f} ms")
    print(f"  brute force, numpy over all points ({N_QUERIES:,} queries): p50 {numpy_p50:.3f} ms")
    print(f"  speedup (p50): {speedup:.1f}x vs pure Python, {numpy_speedup:.1f}x vs numpy")
    print(f"  answers differing from brute force: {mismatches}")
    print(
        json.dumps(
            {
                "bench": "places",
                "measured": {
                    "p50_ms": round(p50, 4),
                    "p99_ms": round(p99, 4),
                    "brute_p50_ms": round(brute_p50, 4),
                    "speedup": round(speedup, 1),
                    "numpy_brute_p50_ms": round(numpy_p50, 4),
                    "numpy_speedup": round(numpy_speedup, 1),
                    "mismatches": mismatches,
                },
                "target": {"p99_ms_max": TARGET_P99_MS, "speedup_min": TARGET_SPEEDUP},
                "pass": passed,
            }
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
