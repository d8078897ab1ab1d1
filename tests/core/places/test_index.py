"""The nearest index answers exactly what a brute-force scan answers."""

from __future__ import annotations

import random

import pytest

from core.places.index import NearestIndex, brute_force

CENTRE = (114.917, 27.818)


def random_points(rng: random.Random, n: int, spread: float = 0.1) -> list[tuple[int, float, float]]:
    return [
        (key, CENTRE[0] + rng.uniform(-spread, spread), CENTRE[1] + rng.gauss(0, spread / 3))
        for key in range(1, n + 1)
    ]


@pytest.mark.parametrize("n", [1, 7, 500, 5000])
def test_equals_brute_force(n: int) -> None:
    rng = random.Random(20261121 + n)
    points = random_points(rng, n)
    index = NearestIndex.build(points)
    for _ in range(200):
        lng = CENTRE[0] + rng.uniform(-0.15, 0.15)  # some queries outside the data's box
        lat = CENTRE[1] + rng.uniform(-0.15, 0.15)
        limit = rng.choice((1, 5, 10, 50))
        assert index.nearest(lng, lat, limit) == brute_force(points, lng, lat, limit)


def test_filters_and_max_distance_equal_brute_force() -> None:
    rng = random.Random(7)
    points = random_points(rng, 3000)
    rare = {key for key, _, _ in points if rng.random() < 0.01}  # keep walking until enough match

    def accept(key: int) -> bool:
        return key in rare

    index = NearestIndex.build(points)
    for _ in range(200):
        lng = CENTRE[0] + rng.uniform(-0.12, 0.12)
        lat = CENTRE[1] + rng.uniform(-0.12, 0.12)
        for max_distance in (None, 500.0, 5000.0):
            got = index.nearest(lng, lat, 10, accept=accept, max_distance_m=max_distance)
            assert got == brute_force(points, lng, lat, 10, accept=accept, max_distance_m=max_distance)
        assert len(index.nearest(lng, lat, 10, accept=accept)) == 10


def test_identical_points_and_empty_index() -> None:
    points = [(key, *CENTRE) for key in range(1, 30)]
    index = NearestIndex.build(points)
    assert index.nearest(*CENTRE, 5) == [(0.0, key) for key in range(1, 6)]
    assert NearestIndex.build([]).nearest(*CENTRE, 5) == []
    assert index.nearest(*CENTRE, 0) == []


def test_far_query() -> None:
    points = random_points(random.Random(3), 200)
    index = NearestIndex.build(points)
    assert index.nearest(116.397, 39.909, 3) == brute_force(points, 116.397, 39.909, 3)
