"""A workflow's state diagram as SVG, laid out and drawn on the server (no JavaScript, no build step).

The layout is a small layered one: states go in rows by the longest path from the initial state (edges
that go back are reversed for ranking), each edge gets a label node in the row between its ends and
dummy nodes in every row it crosses, rows are ordered by barycentres to cut crossings, and nodes are
pulled towards their neighbours. Every text is escaped; the result is standalone, valid XML.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

STATE_H = 40  # a state box's height
LABEL_H = 22  # a transition label's height
ROW_GAP = 26  # vertical space between rows
GAP = 28  # horizontal space between nodes of a row
MARGIN = 24
STATE_FONT = 14
LABEL_FONT = 12
CHAR_EM = 0.6  # average glyph width of a sans-serif font, in em (SVG cannot measure text here)


def text_width(text, size):
    """Estimate the width of ``text`` at ``size`` px."""
    return len(text) * size * CHAR_EM


@dataclass
class Node:
    key: str
    rank: int  # even ranks hold states, odd ones labels and dummies
    width: float
    height: float
    kind: str  # "state", "label" or "dummy"
    text: str = ""
    box: float = 0.0  # a state's own box width (its slot is wider when self loops sit beside it)
    x: float = 0.0  # centre of the slot
    y: float = 0.0  # top
    order: float = 0.0
    up: list = field(default_factory=list)  # neighbour keys one rank above
    down: list = field(default_factory=list)

    @property
    def centre(self):
        """The x centre of what is drawn: a state's box, or the whole node."""
        return self.x - self.width / 2 + self.box / 2 if self.box else self.x


@dataclass
class Edge:
    name: str
    text: str
    source: str
    target: str
    chain: list  # node keys from the upper end to the lower end
    reversed: bool = False


@dataclass
class Diagram:
    """The laid-out diagram: nodes by key, edges, self loops and the size."""

    nodes: dict
    edges: list
    loops: list  # (state key, label text)
    initial: str
    finals: set
    colors: dict
    width: float = 0.0
    height: float = 0.0


def _ranks(states, pairs, initial):
    """Rank states by the longest path from ``initial`` after reversing the edges that close a cycle."""
    out = {s: [] for s in states}
    for a, b in pairs:
        if a != b:
            out[a].append(b)
    back, seen, active = set(), set(), set()

    def visit(node):
        seen.add(node)
        active.add(node)
        for nxt in out[node]:
            if nxt in active:
                back.add((node, nxt))
            elif nxt not in seen:
                visit(nxt)
        active.discard(node)

    for start in [initial, *states]:
        if start not in seen:
            visit(start)
    forward = [(b, a) if (a, b) in back else (a, b) for a, b in pairs if a != b]
    rank = dict.fromkeys(states, 0)
    for _ in states:  # longest path on a DAG: at most len(states) relaxations
        changed = False
        for a, b in forward:
            if rank[b] < rank[a] + 1:
                rank[b] = rank[a] + 1
                changed = True
        if not changed:
            break
    return rank, back


def layout(workflow, language=None, default_language=None):
    """Lay out ``workflow`` (a ``WorkflowSpec``) with its labels in ``language``."""
    states = [s.name for s in workflow.states]
    labels = {s.name: s.label.get(language, default_language) or s.name for s in workflow.states}
    pairs = [(src, t.target) for t in workflow.transitions for src in t.sources
             if src in labels and t.target in labels]
    rank, back = _ranks(states, pairs, workflow.initial)
    nodes = {}
    for s in states:
        box = max(96.0, text_width(labels[s], STATE_FONT) + 28)
        nodes[s] = Node(s, 2 * rank[s], box, STATE_H, "state", labels[s], box=box)
    edges, loops = [], []
    for t in workflow.transitions:
        text = t.label.get(language, default_language) or t.name
        for src in t.sources:
            if src not in labels or t.target not in labels:
                continue
            if src == t.target:
                loops.append((src, text))
                nodes[src].width += text_width(text, LABEL_FONT) + 40  # room for the loop and its label
                continue
            rev = (src, t.target) in back
            upper, lower = (t.target, src) if rev else (src, t.target)
            edges.append(_chain(nodes, f"{t.name}:{src}", t.name, text, upper, lower, src, t.target, rev))
    diagram = Diagram(nodes, edges, loops, workflow.initial, {s.name for s in workflow.states if s.final},
                      {s.name: s.color for s in workflow.states if s.color})
    _order(diagram)
    _place(diagram)
    return diagram


def _chain(nodes, key, name, text, upper, lower, source, target, rev):
    """Make the label and dummy nodes an edge passes through, linking neighbours rank by rank."""
    chain = [upper]
    for rank in range(nodes[upper].rank + 1, nodes[lower].rank):
        node_key = f"{key}@{rank}"
        if rank == nodes[upper].rank + 1:
            nodes[node_key] = Node(node_key, rank, text_width(text, LABEL_FONT) + 14, LABEL_H, "label", text)
        else:
            nodes[node_key] = Node(node_key, rank, 8.0, 0.0, "dummy")
        chain.append(node_key)
    chain.append(lower)
    for a, b in zip(chain, chain[1:], strict=False):
        nodes[a].down.append(b)
        nodes[b].up.append(a)
    return Edge(name, text, source, target, chain, rev)


def _rows(diagram):
    rows = {}
    for node in diagram.nodes.values():
        rows.setdefault(node.rank, []).append(node)
    return [sorted(rows[r], key=lambda n: n.order) for r in sorted(rows)]


def _order(diagram):
    """Order each row by the barycentre of its neighbours, sweeping down and up a few times."""
    for i, node in enumerate(diagram.nodes.values()):
        node.order = i
    rows = _rows(diagram)
    for sweep in range(8):
        sequence = rows[1:] if sweep % 2 == 0 else rows[-2::-1]
        for row in sequence:
            for node in row:
                near = node.up if sweep % 2 == 0 else node.down
                if near:
                    node.order = sum(diagram.nodes[k].order for k in near) / len(near)
            row.sort(key=lambda n: n.order)
            for i, node in enumerate(row):
                node.order = i


def _spread(row, desired):
    """Put ``row``'s nodes at x centres near ``desired`` while keeping their order and spacing."""
    x = None
    for node in row:
        left = desired[node.key] - node.width / 2
        if x is not None:
            left = max(left, x)
        node.x = left + node.width / 2
        x = left + node.width + GAP
    # nodes were only pushed right: shift the row back by the mean push so it stays centred
    shift = sum(desired[n.key] - n.x for n in row) / len(row)
    for node in row:
        node.x += shift


def _place(diagram):
    """Give every node its coordinates: rows top to bottom, nodes pulled towards their neighbours."""
    rows = _rows(diagram)
    for row in rows:
        _spread(row, {n.key: n.order * 140.0 for n in row})
    for sweep in range(6):
        for row in (rows if sweep % 2 == 0 else rows[::-1]):
            desired = {}
            for node in row:
                near = node.up + node.down
                desired[node.key] = (sum(diagram.nodes[k].x for k in near) / len(near)) if near else node.x
            _spread(row, desired)
    left = min(n.x - n.width / 2 for n in diagram.nodes.values())
    y = MARGIN + (34 if diagram.initial in diagram.nodes else 0)  # room for the initial marker
    for row in rows:
        height = max(n.height for n in row) or 0.0
        for node in row:
            node.x += MARGIN - left
            node.y = y + (height - node.height) / 2
        y += height + ROW_GAP
    diagram.width = max(n.x + n.width / 2 for n in diagram.nodes.values()) + MARGIN
    diagram.height = y - ROW_GAP + MARGIN


def _ports(diagram):
    """Spread the ends of the edges along each state's top and bottom, in the order they leave."""
    ends = {}
    for i, edge in enumerate(diagram.edges):
        first, last = diagram.nodes[edge.chain[1]], diagram.nodes[edge.chain[-2]]
        ends.setdefault((edge.chain[0], "bottom"), []).append((first.centre, i))
        ends.setdefault((edge.chain[-1], "top"), []).append((last.centre, i))
    ports = {}
    for (key, side), items in ends.items():
        node = diagram.nodes[key]
        items.sort()
        span = min(node.width - 24, 28.0 * (len(items) - 1))
        for j, (_, i) in enumerate(items):
            offset = 0.0 if len(items) == 1 else -span / 2 + span * j / (len(items) - 1)
            y = node.y + node.height if side == "bottom" else node.y
            ports[i, side] = (node.centre + offset, y)
    return ports


def _path(points):
    """A smooth path through ``points`` with vertical tangents at each point."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        mid = (y0 + y1) / 2
        parts.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _edge_points(diagram, edge, ports, index):
    points = [ports[index, "bottom"]]
    for key in edge.chain[1:-1]:
        node = diagram.nodes[key]
        points.append((node.x, node.y))
        if node.height:
            points.append((node.x, node.y + node.height))
    points.append(ports[index, "top"])
    return points[::-1] if edge.reversed else points


def svg(diagram, title, description, ident="wf"):
    """Draw ``diagram`` as an SVG document with an accessible title and description."""
    ident = escape(ident)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" role="img" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'viewBox="0 0 {diagram.width:.0f} {diagram.height:.0f}" width="{diagram.width:.0f}" '
        f'height="{diagram.height:.0f}" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<defs><marker id="{ident}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a5568"/></marker></defs>',
    ]
    ports = _ports(diagram)
    for i, edge in enumerate(diagram.edges):
        d = _path(_edge_points(diagram, edge, ports, i))
        out.append(f'<path class="wf-edge" data-transition="{escape(edge.name)}" d="{d}" fill="none" '
                   f'stroke="#4a5568" stroke-width="1.6" marker-end="url(#{ident}-arrow)"/>')
    for node in diagram.nodes.values():
        if node.kind == "label":
            out.append(_label(node))
    for node in diagram.nodes.values():
        if node.kind == "state":
            out.append(_state(diagram, node))
    for key, text in diagram.loops:
        out.append(_loop(diagram.nodes[key], text, ident))
    if diagram.initial in diagram.nodes:
        out.append(_initial(diagram.nodes[diagram.initial], ident))
    out.append("</svg>")
    return "\n".join(out)


def _label(node):
    left = node.x - node.width / 2
    return (f'<g class="wf-label"><rect x="{left:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" '
            f'height="{node.height:.1f}" rx="4" fill="#ffffff" stroke="#cbd5e0"/>'
            f'<text x="{node.x:.1f}" y="{node.y + node.height / 2 + 4:.1f}" text-anchor="middle" '
            f'font-size="{LABEL_FONT}" fill="#1a202c">{escape(node.text)}</text></g>')


def _state(diagram, node):
    left, width = node.x - node.width / 2, node.box
    final = node.key in diagram.finals
    stroke = diagram.colors.get(node.key, "#2d3748")
    parts = [f'<g class="wf-state{" wf-final" if final else ""}{" wf-initial" if node.key == diagram.initial else ""}" '
             f'data-state="{escape(node.key)}">',
             f'<rect x="{left:.1f}" y="{node.y:.1f}" width="{width:.1f}" height="{node.height:.1f}" rx="12" '
             f'fill="#f7fafc" stroke="{escape(stroke)}" stroke-width="2"/>']
    if final:  # a final state has a double border
        parts.append(f'<rect x="{left + 4:.1f}" y="{node.y + 4:.1f}" width="{width - 8:.1f}" '
                     f'height="{node.height - 8:.1f}" rx="9" fill="none" stroke="{escape(stroke)}" stroke-width="1"/>')
    parts.append(f'<text x="{left + width / 2:.1f}" y="{node.y + node.height / 2 + 5:.1f}" text-anchor="middle" '
                 f'font-size="{STATE_FONT}" font-weight="600" fill="#1a202c">{escape(node.text)}</text></g>')
    return "".join(parts)


def _loop(node, text, ident):
    """A transition from a state to itself: a loop on the box's right side with its label beside it."""
    box_right = node.x - node.width / 2 + node.box
    top, bottom = node.y + 8, node.y + node.height - 8
    d = (f"M{box_right - 10:.1f},{top:.1f} C{box_right + 30:.1f},{top - 22:.1f} "
         f"{box_right + 30:.1f},{bottom + 22:.1f} {box_right - 10:.1f},{bottom:.1f}")
    return (f'<path class="wf-edge wf-loop" d="{d}" fill="none" stroke="#4a5568" stroke-width="1.6" '
            f'marker-end="url(#{ident}-arrow)"/>'
            f'<text x="{box_right + 32:.1f}" y="{node.y + node.height / 2 + 4:.1f}" font-size="{LABEL_FONT}" '
            f'fill="#1a202c">{escape(text)}</text>')


def _initial(node, ident):
    """The initial state's marker: a filled dot with an arrow into the box, as in UML."""
    cx, top = node.centre, node.y
    return (f'<g class="wf-start"><circle cx="{cx:.1f}" cy="{top - 28:.1f}" r="7" fill="#2d3748"/>'
            f'<path d="M{cx:.1f},{top - 21:.1f} L{cx:.1f},{top - 2:.1f}" stroke="#2d3748" stroke-width="1.6" '
            f'marker-end="url(#{ident}-arrow)"/></g>')


def describe(workflow, language=None, default_language=None):
    """Say in words what the diagram shows (the SVG's ``<desc>``)."""
    labels = {s.name: s.label.get(language, default_language) or s.name for s in workflow.states}
    states = ", ".join(
        labels[s.name] + (" (initial)" if s.name == workflow.initial else "") + (" (final)" if s.final else "")
        for s in workflow.states)
    moves = "; ".join(
        f"{t.label.get(language, default_language) or t.name}: from "
        f"{' or '.join(labels.get(s, s) for s in t.sources)} to {labels.get(t.target, t.target)}"
        for t in workflow.transitions)
    return f"States: {states}. Transitions: {moves or 'none'}."


def workflow_svg(workflow, language=None, default_language=None):
    """The state diagram of ``workflow`` as SVG text, ready to put in a page."""
    diagram = layout(workflow, language, default_language)
    title = f"State diagram of the workflow {workflow.name} ({workflow.entity}.{workflow.field})"
    return svg(diagram, title, describe(workflow, language, default_language), ident=f"wf-{workflow.name}")
