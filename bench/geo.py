"""Benchmark: point -> unit grid lookup (core.geo.index).

Run: .venv/bin/python bench/geo.py

Builds the demo city's unit grids with core.demo.generate (falls back to a synthetic
100 m lattice only if that module does not exist), draws 100,000 random points (fixed
seed) inside the grids' bounding box and measures microseconds per point for

  (a) GridIndex.locate_many over all points (vectorized),
  (b) GridIndex.locate called once per point (the honest per-request cost),
  (c) naive_locate (loop over every polygon) on a 2,000-point sample, per point.

It also checks that (a), (b) and (c) return the same grid for every point they share.
The last line of output is a single JSON object; "pass" is judged on (b).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.geo.index import GridIndex, GridShape, naive_locate  # noqa: E402

SEED = 20261121
N_POINTS = 100_000
N_NAIVE = 2_000
SINGLE_RUNS = 3
BATCH_RUNS = 5
TARGET_US_PER_POINT = 20
TARGET_SPEEDUP = 100

# Synthetic fallback lattice: 100 x 78 cells of 100 m x 100 m around the demo centre.
CENTRE_LNG, CENTRE_LAT = 114.917, 27.818
NX, NY = 100, 78
M_PER_DEG_LAT = 111_320.0


def load_demo_grids() -> tuple[list[GridShape], str] | None:
    """Unit grids of the real demo generator, or None if the module does not exist."""
    try:
        from core.demo.generate import generate
    except ModuleNotFoundError as exc:
        if exc.name in {"core.demo.generate", "core.demo"}:
            return None
        raise
    with tempfile.TemporaryDirectory(prefix="zhcg-bench-geo-") as tmp:
        files = generate(Path(tmp), seed=SEED)
        collection = json.loads(files.unit_grids.read_text(encoding="utf-8"))
    grids = []
    for feature in collection["features"]:
        props = feature["properties"]
        grids.append(
            GridShape(
                code=props["code"],
                polygon=shape(feature["geometry"]),
                community_code=props["community_code"],
                street_code=props["community_code"][:9],
                district_code=props["code"][:6],
                responsibility_grid_code=props.get("responsibility_grid_code"),
            )
        )
    return grids, "core.demo.generate"


def synthetic_grids() -> tuple[list[GridShape], str]:
    dy = 100.0 / M_PER_DEG_LAT
    dx = 100.0 / (M_PER_DEG_LAT * np.cos(np.radians(CENTRE_LAT)))
    xs = CENTRE_LNG - NX * dx / 2 + np.arange(NX + 1) * dx
    ys = CENTRE_LAT - NY * dy / 2 + np.arange(NY + 1) * dy
    grids = []
    for j in range(NY):
        for i in range(NX):
            # 10 x 10 cells per community, 10 communities per street.
            community_no = (j // 10) * (NX // 10) + i // 10 + 1
            street = f"360502{community_no // 10 + 1:03d}"
            community = f"{street}{community_no % 10 + 1:03d}"
            seq = (j % 10) * 10 + i % 10 + 1
            grids.append(
                GridShape(
                    code=f"{community}{seq:03d}",
                    polygon=shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]),
                    community_code=community,
                    street_code=street,
                    district_code="360502",
                    responsibility_grid_code=None,
                )
            )
    return grids, f"synthetic {NX}x{NY} lattice (core.demo.generate not found)"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> int:
    loaded = load_demo_grids()
    grids, source = loaded if loaded is not None else synthetic_grids()

    build_s, index = timed(lambda: GridIndex.build(grids))
    minx, miny, maxx, maxy = index.bounds
    rng = np.random.default_rng(SEED)
    lngs = rng.uniform(minx, maxx, N_POINTS)
    lats = rng.uniform(miny, maxy, N_POINTS)
    lng_list: list[float] = lngs.tolist()
    lat_list: list[float] = lats.tolist()

    # (a) vectorized
    index.locate_many(lngs[:1000], lats[:1000])  # warm-up
    batch_times = []
    batch = np.empty(0, dtype=np.intp)
    for _ in range(BATCH_RUNS):
        t, batch = timed(lambda: index.locate_many(lngs, lats))
        batch_times.append(t)
    us_batch = statistics.median(batch_times) / N_POINTS * 1e6

    # (b) one call per point
    locate = index.locate

    def single_pass() -> list[GridShape | None]:
        return [locate(x, y) for x, y in zip(lng_list, lat_list, strict=True)]

    for x, y in zip(lng_list[:1000], lat_list[:1000], strict=True):  # warm-up
        locate(x, y)
    single_times = []
    single: list[GridShape | None] = []
    for _ in range(SINGLE_RUNS):
        t, single = timed(single_pass)
        single_times.append(t)
    us_single = statistics.median(single_times) / N_POINTS * 1e6

    # (c) naive loop over all polygons, on a sample
    sample = range(N_NAIVE)
    naive_s, naive = timed(lambda: [naive_locate(grids, lng_list[k], lat_list[k]) for k in sample])
    us_naive = naive_s / N_NAIVE * 1e6
    speedup = us_naive / us_single

    # Agreement: batch vs single on all points, naive vs both on the sample.
    position = {id(g): k for k, g in enumerate(grids)}
    single_idx = np.array([-1 if g is None else position[id(g)] for g in single], dtype=np.intp)
    batch_mismatch = int(np.count_nonzero(single_idx != batch))
    naive_mismatch = sum(1 for k in sample if naive[k] is not single[k])
    inside = int(np.count_nonzero(batch >= 0))

    ok = (
        us_single <= TARGET_US_PER_POINT
        and speedup >= TARGET_SPEEDUP
        and batch_mismatch == 0
        and naive_mismatch == 0
    )

    print(f"geo bench — grids from {source}")
    print(f"  grids: {len(index):,}   bounds: {index.bounds}")
    print(f"  index build: {build_s * 1e3:.1f} ms")
    print(f"  points: {N_POINTS:,} uniform in bounds (seed {SEED}), {inside:,} inside a grid")
    print(f"  (a) locate_many, vectorized : {us_batch:8.2f} µs/point (median of {BATCH_RUNS})")
    print(f"  (b) locate, one call/point  : {us_single:8.2f} µs/point (median of {SINGLE_RUNS})")
    print(f"  (c) naive loop, {N_NAIVE:,} pts   : {us_naive:8.1f} µs/point")
    print(f"  speed-up single vs naive    : {speedup:8.0f}x")
    print(f"  disagreements: batch vs single {batch_mismatch}, naive vs index {naive_mismatch}")
    print(
        f"  target: ≤ {TARGET_US_PER_POINT} µs/point (single), ≥ {TARGET_SPEEDUP}x vs naive"
        f" → {'PASS' if ok else 'FAIL'}"
    )
    result = {
        "bench": "geo",
        "measured": {
            "us_per_point_batch": round(us_batch, 3),
            "us_per_point_single": round(us_single, 3),
            "us_per_point_naive": round(us_naive, 1),
            "speedup_vs_naive": round(speedup, 1),
        },
        "target": {"us_per_point_max": TARGET_US_PER_POINT, "speedup_min": TARGET_SPEEDUP},
        "pass": ok,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
