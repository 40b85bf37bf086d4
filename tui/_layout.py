"""Lay a directed graph out as boxes and arrows on a grid of character cells.

The layout is layered, the way Graphviz's `dot` draws an org chart: cycles are broken by turning
round the edges a depth-first walk from the root meets going back (networkx gives the walk), each
node gets the layer of its longest path from the root, nodes within a layer are ordered by the
mean place of their neighbours (a few sweeps each way), and layers run left to right or top to
bottom, whichever fits the space given. Edges are then routed one by one through the free cells
by a shortest-path search that pays for turns, for crossing another edge and (much more) for
running along one, so each edge finds its own track where there is room.

It returns geometry only: boxes by name, and per edge the cells it passes through and where its
arrowhead goes. Drawing it (characters, colours) is the widget's business. It is pure and fast
enough to run on every resize (about ten milliseconds for a dozen roles).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

Cell = tuple[int, int]
UP, DOWN, LEFT, RIGHT = (0, -1), (0, 1), (-1, 0), (1, 0)
Direction = tuple[int, int]
GAP = 5
"""Cells between neighbouring layers, by default: room for an arrow, a turn and a few tracks."""
SPACING = 1
"""Cells between boxes in the same layer."""


@dataclass(frozen=True)
class Box:
    name: str
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass(frozen=True)
class Route:
    src: str
    dst: str
    cells: tuple[Cell, ...]
    """From the cell beside the sender's box to the cell beside the receiver's, where the
    arrowhead goes."""
    start: Direction
    """From the first cell towards the sender's box (where the border gets a tee)."""
    end: Direction
    """From the last cell towards the receiver's box (the way the arrowhead points)."""


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    boxes: dict[str, Box]
    routes: tuple[Route, ...]
    horizontal: bool

    def box_at(self, x: int, y: int) -> str | None:
        return next((b.name for b in self.boxes.values() if b.contains(x, y)), None)


# ---- layers and order


def layers(
    nodes: Sequence[str], edges: Iterable[tuple[str, str]], root: str | None
) -> list[list[str]]:
    """Nodes by layer, each layer in the order that crosses fewest edges (by a heuristic)."""
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((a, b) for a, b in edges if a != b)
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes)
    first = [root] if root is not None and root in g else []
    dag.add_edges_from(_forward(g, [*first, *nodes]))
    rank: dict[str, int] = {}
    for n in nx.topological_sort(dag):
        rank[n] = max((rank[p] + 1 for p in dag.predecessors(n)), default=0)
    out: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for n in nodes:  # the given order breaks ties
        out[rank[n]].append(n)
    _sweep(out, g)
    return out


def _forward(g: nx.DiGraph, starts: Iterable[str]) -> list[tuple[str, str]]:
    """The edges a depth-first walk from each start in turn meets going forward: all but those
    to a node still on the walk's stack, which close a cycle (they are drawn, not ranked)."""
    state: dict[str, int] = {}
    """1 while on the stack, 2 when done."""
    out: list[tuple[str, str]] = []
    for start in starts:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(g.successors(start)))]
        while stack:
            node, successors = stack[-1]
            nxt = next(successors, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) != 1:
                out.append((node, nxt))
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(g.successors(nxt))))
    return out


def _sweep(out: list[list[str]], g: nx.DiGraph, rounds: int = 4) -> None:
    """Order each layer by the mean position of its neighbours in the layer before (then after)."""
    undirected = g.to_undirected(as_view=True)
    for r in range(rounds):
        sequence = range(1, len(out)) if r % 2 == 0 else range(len(out) - 2, -1, -1)
        for i in sequence:
            ref = out[i - 1] if r % 2 == 0 else out[i + 1]
            where = {n: k for k, n in enumerate(ref)}

            def mean(n: str, where: dict[str, int] = where) -> float:
                near = [where[m] for m in undirected[n] if m in where]
                return sum(near) / len(near) if near else float("inf")

            current = {n: k for k, n in enumerate(out[i])}
            out[i].sort(key=lambda n: (mean(n), current[n]))


# ---- placement


def place(
    order: list[list[str]],
    sizes: dict[str, tuple[int, int]],
    *,
    horizontal: bool,
    margin: int,
    gap: int = GAP,
) -> tuple[dict[str, Box], int, int]:
    """Boxes for each layer: a column per layer (or a row), boxes stacked across it. `margin`
    cells are left free around the whole for routes that go round."""
    boxes: dict[str, Box] = {}
    along = margin
    across_max = 0
    for layer in order:
        thick = max((sizes[n][0] if horizontal else sizes[n][1]) for n in layer)
        across = margin
        for n in layer:
            w, h = sizes[n]
            if horizontal:
                boxes[n] = Box(n, along + (thick - w) // 2, across, w, h)
                across += h + SPACING
            else:
                boxes[n] = Box(n, across, along + (thick - h) // 2, w, h)
                across += w + SPACING * 3
        across_max = max(across_max, across - (SPACING if horizontal else SPACING * 3))
        along += thick + (gap if horizontal else max(3, gap - 2))
    along += margin - (gap if horizontal else max(3, gap - 2))
    across_max += margin
    width, height = (along, across_max) if horizontal else (across_max, along)
    return boxes, width, height


# ---- routing


def _sides(box: Box) -> list[tuple[Cell, Direction]]:
    """Each cell beside the box's sides (not its corners), with the way back to the box."""
    out: list[tuple[Cell, Direction]] = []
    for dy in range(1, box.h - 1):
        out.append(((box.x + box.w, box.y + dy), LEFT))
        out.append(((box.x - 1, box.y + dy), RIGHT))
    for dx in range(1, box.w - 1):
        out.append(((box.x + dx, box.y - 1), DOWN))
        out.append(((box.x + dx, box.y + box.h), UP))
    return out


class _Grid:
    def __init__(self, width: int, height: int, boxes: dict[str, Box]) -> None:
        self.width, self.height = width, height
        self.blocked: set[Cell] = set()
        self.hug: set[Cell] = set()
        for b in boxes.values():
            for x in range(b.x, b.x + b.w):
                for y in range(b.y, b.y + b.h):
                    self.blocked.add((x, y))
            self.hug |= {c for c, _ in _sides(b)}
        self.used: dict[Cell, set[str]] = {}
        """Cells routes pass through -> 'h' and/or 'v' (how they pass)."""
        self.ends: set[Cell] = set()

    def free(self, c: Cell) -> bool:
        return 0 <= c[0] < self.width and 0 <= c[1] < self.height and c not in self.blocked

    def cost(self, c: Cell, d: Direction, endpoint: bool) -> int:
        cost = 1
        if c in self.ends and not endpoint:
            cost += 60
        ways = self.used.get(c)
        if ways:
            way = "h" if d[1] == 0 else "v"
            cost += 40 if way in ways else 5
        if c in self.hug and not endpoint:
            cost += 1
        return cost

    def take(self, cells: Sequence[Cell]) -> None:
        for i, c in enumerate(cells):
            prev = cells[i - 1] if i else None
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            for other in (prev, nxt):
                if other is not None:
                    self.used.setdefault(c, set()).add("h" if other[1] == c[1] else "v")
        self.ends |= {cells[0], cells[-1]}


def _route(grid: _Grid, src: Box, dst: Box, prefer: Direction) -> Route | None:
    """The cheapest path from beside `src` to beside `dst`. `prefer` is the way along the flow;
    leaving `src` that way and entering `dst` along it costs least."""
    targets = dict(_sides(dst))
    heap: list[tuple[int, int, Cell, Direction]] = []
    came: dict[tuple[Cell, Direction], tuple[Cell, Direction] | None] = {}
    best: dict[tuple[Cell, Direction], int] = {}
    starts: dict[Cell, Direction] = {}
    for c, back in _sides(src):
        if not grid.free(c) or c in targets:
            continue
        out = (-back[0], -back[1])
        cost = 0 if out == prefer else 3 if out[0] != -prefer[0] or out[1] != -prefer[1] else 6
        cost += grid.cost(c, out, True)
        starts[c] = back
        key = (c, out)
        if cost < best.get(key, 1 << 30):
            best[key] = cost
            came[key] = None
            heapq.heappush(heap, (cost + _h(c, dst), cost, c, out))
    while heap:
        _, cost, c, d = heapq.heappop(heap)
        if cost > best.get((c, d), 1 << 30):
            continue
        if c in targets:
            return _unwind(src, dst, came, (c, d), starts, targets[c])
        for nd in (UP, DOWN, LEFT, RIGHT):
            if nd == (-d[0], -d[1]):
                continue
            n = (c[0] + nd[0], c[1] + nd[1])
            if not grid.free(n):
                continue
            at_end = n in targets
            step = grid.cost(n, nd, at_end) + (2 if nd != d else 0)
            if at_end and nd != targets[n]:
                step += 6
            key = (n, nd)
            if cost + step < best.get(key, 1 << 30):
                best[key] = cost + step
                came[key] = (c, d)
                heapq.heappush(heap, (cost + step + _h(n, dst), cost + step, n, nd))
    return None


def _h(c: Cell, dst: Box) -> int:
    """Manhattan distance to the ring of cells around `dst`: never more than the real cost."""
    dx = max(dst.x - 1 - c[0], 0, c[0] - (dst.x + dst.w))
    dy = max(dst.y - 1 - c[1], 0, c[1] - (dst.y + dst.h))
    return dx + dy


def _unwind(
    src: Box,
    dst: Box,
    came: dict[tuple[Cell, Direction], tuple[Cell, Direction] | None],
    key: tuple[Cell, Direction],
    starts: dict[Cell, Direction],
    into: Direction,
) -> Route:
    cells: list[Cell] = []
    at: tuple[Cell, Direction] | None = key
    while at is not None:
        cells.append(at[0])
        at = came[at]
    cells.reverse()
    return Route(src.name, dst.name, tuple(cells), starts[cells[0]], into)


@dataclass(frozen=True)
class _Placed:
    pairs: list[tuple[str, str]]
    rank: dict[str, int]
    boxes: dict[str, Box]
    width: int
    height: int
    horizontal: bool


@dataclass(frozen=True)
class Variant:
    """One way to draw the boxes: their (width, height) by name, and the gap between layers."""

    sizes: dict[str, tuple[int, int]]
    gap: int = GAP


def _place(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    variant: Variant,
    root: str | None,
    horizontal: bool,
) -> _Placed:
    sizes = variant.sizes
    pairs = list(dict.fromkeys((a, b) for a, b in edges if a != b and a in sizes and b in sizes))
    order = layers([n for n in nodes if n in sizes], pairs, root)
    rank = {n: i for i, layer in enumerate(order) for n in layer}
    around = sum(1 for a, b in pairs if rank[b] - rank[a] != 1)
    margin = 1 + min(3, around)
    boxes, width, height = place(
        order, sizes, horizontal=horizontal, margin=margin, gap=variant.gap
    )
    return _Placed(pairs, rank, boxes, width, height, horizontal)


def _routed(p: _Placed) -> Layout:
    grid = _Grid(p.width, p.height, p.boxes)
    prefer = RIGHT if p.horizontal else DOWN
    routes: list[Route] = []
    rank = p.rank
    # Short edges first: they have the obvious tracks; the long way round takes what is left.
    for a, b in sorted(p.pairs, key=lambda e: (abs(rank[e[1]] - rank[e[0]] - 1), rank[e[0]])):
        found = _route(grid, p.boxes[a], p.boxes[b], prefer)
        if found is not None:
            grid.take(found.cells)
            routes.append(found)
    return _cropped(Layout(p.width, p.height, p.boxes, tuple(routes), p.horizontal))


def _cropped(lay: Layout) -> Layout:
    """The layout without the margin its routes did not use."""
    xs = [x for b in lay.boxes.values() for x in (b.x, b.x + b.w - 1)]
    ys = [y for b in lay.boxes.values() for y in (b.y, b.y + b.h - 1)]
    xs += [x for r in lay.routes for x, _ in r.cells]
    ys += [y for r in lay.routes for _, y in r.cells]
    if not xs:
        return lay
    x0, y0 = min(xs), min(ys)
    boxes = {n: Box(n, b.x - x0, b.y - y0, b.w, b.h) for n, b in lay.boxes.items()}
    routes = tuple(
        Route(r.src, r.dst, tuple((x - x0, y - y0) for x, y in r.cells), r.start, r.end)
        for r in lay.routes
    )
    return Layout(max(xs) - x0 + 1, max(ys) - y0 + 1, boxes, routes, lay.horizontal)


def layout(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    sizes: dict[str, tuple[int, int]],
    *,
    root: str | None = None,
    horizontal: bool = True,
) -> Layout:
    """Boxes of the given (width, height) for `nodes`, an arrow per edge (self-loops and repeats
    are dropped)."""
    return _routed(_place(nodes, edges, Variant(sizes), root, horizontal))


def fit(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    variants: Sequence[Variant],
    space: tuple[int, int],
    *,
    root: str | None = None,
) -> Layout:
    """The first layout that fits `space`, trying each variant (roomiest first) left to right,
    then top to bottom; when none fits, the one that overflows least."""
    tried: list[_Placed] = []
    for variant in variants:
        for horizontal in (True, False):
            placed = _place(nodes, edges, variant, root, horizontal)
            if placed.width <= space[0] + 2 and placed.height <= space[1] + 2:
                routed = _routed(placed)  # cropping may make it fit
                if routed.width <= space[0] and routed.height <= space[1]:
                    return routed
            tried.append(placed)

    def overflow(p: _Placed) -> int:
        return max(0, p.width - space[0]) * 2 + max(0, p.height - space[1]) * 3

    return _routed(min(tried, key=overflow))
