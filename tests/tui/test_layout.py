"""The graph layout: layers along the flow from the human, boxes that never overlap, and every
edge routed through free cells from beside its sender to beside its receiver, fitted to the space
given or, when nothing fits, the least overflowing picture."""

from __future__ import annotations

import random

import pytest

from orgloop.tui import Layout, fit, layout
from orgloop.tui._graph import variants
from orgloop.tui._layout import Box, layers

TINYLM = ["human", "pi", "engineer", "trainer", "critic", "reviewer", "meta"]
EDGES = [
    ("human", "pi"),
    ("human", "meta"),
    ("human", "trainer"),
    ("pi", "engineer"),
    ("engineer", "trainer"),
    ("engineer", "pi"),
    ("trainer", "critic"),
    ("critic", "reviewer"),
    ("reviewer", "pi"),
]


def beside(cell: tuple[int, int], b: Box) -> bool:
    """Next to one of the box's sides (not diagonally off a corner)."""
    x, y = cell
    left_right = b.y <= y < b.y + b.h and x in (b.x - 1, b.x + b.w)
    above_below = b.x <= x < b.x + b.w and y in (b.y - 1, b.y + b.h)
    return left_right or above_below


def check(lay: Layout, edges: list[tuple[str, str]]) -> None:
    boxes = list(lay.boxes.values())
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.y >= 0
        assert a.x + a.w <= lay.width and a.y + a.h <= lay.height
        for b in boxes[i + 1 :]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart, (a, b)
    routed = {(r.src, r.dst) for r in lay.routes}
    assert routed == {e for e in edges if e[0] != e[1]}
    for r in lay.routes:
        assert beside(r.cells[0], lay.boxes[r.src]) and beside(r.cells[-1], lay.boxes[r.dst])
        for (x0, y0), (x1, y1) in zip(r.cells, r.cells[1:], strict=False):
            assert abs(x1 - x0) + abs(y1 - y0) == 1, r  # a connected path
        for x, y in r.cells:
            assert 0 <= x < lay.width and 0 <= y < lay.height
            assert not any(b.contains(x, y) for b in boxes), (r.src, r.dst, x, y)


def test_layers_follow_the_kickoff_and_cycles_go_back() -> None:
    rank = {n: i for i, layer in enumerate(layers(TINYLM, EDGES, "human")) for n in layer}
    chain = ["human", "pi", "engineer", "trainer", "critic", "reviewer"]
    assert [rank[n] for n in chain] == list(range(6))
    assert rank["meta"] == 1


@pytest.mark.parametrize("horizontal", [True, False])
def test_every_edge_runs_through_free_cells_between_its_boxes(horizontal: bool) -> None:
    sizes = variants(TINYLM)[1].sizes
    check(layout(TINYLM, EDGES, sizes, root="human", horizontal=horizontal), EDGES)


@pytest.mark.parametrize(
    ("space", "horizontal"), [((160, 20), True), ((78, 14), True), ((40, 60), False)]
)
def test_the_picture_fits_the_space_it_is_given(space: tuple[int, int], horizontal: bool) -> None:
    lay = fit(TINYLM, EDGES, variants(TINYLM), space, root="human")
    assert lay.width <= space[0] and lay.height <= space[1]
    assert lay.horizontal == horizontal
    check(lay, EDGES)


def test_the_roomiest_boxes_are_used_where_they_fit() -> None:
    wide = fit(TINYLM, EDGES, variants(TINYLM), (200, 30), root="human")
    narrow = fit(TINYLM, EDGES, variants(TINYLM), (78, 14), root="human")
    assert wide.boxes["engineer"].h == 4  # room for a state line
    assert narrow.boxes["engineer"].h == 3


def test_when_nothing_fits_the_least_overflowing_picture_comes_back() -> None:
    lay = fit(TINYLM, EDGES, variants(TINYLM), (30, 8), root="human")
    assert lay.width > 30 or lay.height > 8
    check(lay, EDGES)


def test_a_large_random_org_is_laid_out_whole() -> None:
    rng = random.Random(7)
    nodes = ["human", *(f"role{i}" for i in range(18))]
    edges = [("human", "role0")]
    edges += [(rng.choice(nodes[1:]), rng.choice(nodes[1:])) for _ in range(30)]
    edges = list(dict.fromkeys(e for e in edges if e[0] != e[1]))
    lay = fit(nodes, edges, variants(nodes), (160, 40), root="human")
    assert set(lay.boxes) == set(nodes)
    check(lay, edges)
