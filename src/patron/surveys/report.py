"""The survey analysis report: the result of :func:`patron.surveys.analysis.analyze` as HTML.

:func:`render_report_body` gives an HTML fragment (every class name starts with ``pr-``, so it can sit inside
an application page); :func:`render_report` wraps it in one standalone document with inline CSS and inline
SVG (no scripts, no external files), readable on a phone and printable. Everything goes through Jinja2 with
autoescaping: titles, item names and the model text come from users.

Numbers are shown to three decimals and p-values as APA prints them (``< .001``, ``.023``). Each figure
with a rule-of-thumb threshold (``result["thresholds"]``) is marked pass or fail.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from patron.surveys.analysis import THRESHOLDS

__all__ = ["path_diagram_svg", "render_report", "render_report_body"]

TEMPLATES = Path(__file__).parent / "report_templates"

# Likert colours from "disagree" (red) through neutral (grey) to "agree" (blue), ColorBrewer RdBu.
_DIVERGING = [
    "#b2182b",
    "#d6604d",
    "#f4a582",
    "#fddbc7",
    "#e0e0e0",
    "#d1e5f0",
    "#92c5de",
    "#4393c3",
    "#2166ac",
]


# --------------------------------------------------------------------------------------------- formatting


def fmt_number(value: Any, digits: int = 3) -> str:
    """``0.93056`` -> ``"0.931"``; integers stay whole; ``None`` -> an en dash."""
    if isinstance(value, bool):
        return str(value)
    if not isinstance(value, int | float):
        return "\u2013"  # None, or a gap in a result read back from storage
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u2009")
    if not math.isfinite(value):
        return "\u2013"
    if abs(value) >= 1e5:
        return f"{value:,.{min(digits, 1)}f}".replace(",", "\u2009")
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text == "-0." + "0" * digits else text


def fmt_p(value: Any) -> str:
    """APA style: no leading zero, three decimals, ``< .001`` below that."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return "\u2013"
    if value < 0.001:
        return "< .001"
    text = f"{value:.3f}"
    return text[1:] if text.startswith("0") else text


def stars(p: Any) -> str:
    """``***`` p < .001, ``**`` p < .01, ``*`` p < .05."""
    if p is None or not isinstance(p, int | float) or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _passes(thresholds: dict, key: str, value: Any) -> bool | None:
    rule = (thresholds or THRESHOLDS).get(key)
    if rule is None or value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return bool(value >= rule["min"]) if "min" in rule else bool(value <= rule["max"])


def _rule_text(thresholds: dict, key: str, bare: bool = False) -> str:
    """``≥ 0.5`` (or ``≤ 0.08``); with ``bare`` only the number, for phrases such as "below 0.5"."""
    rule = (thresholds or THRESHOLDS).get(key)
    if not rule:
        return ""
    value = rule["min"] if "min" in rule else rule["max"]
    if bare:
        return f"{value:g}"
    return f"\u2265 {value:g}" if "min" in rule else f"\u2264 {value:g}"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["num"] = fmt_number
    env.filters["p"] = fmt_p
    env.filters["stars"] = stars
    return env


# --------------------------------------------------------------------------------------------- path diagram

_ITEM_W, _ITEM_H, _ITEM_GAP = 46, 24, 6
_RY = 22
_MAX_ITEMS_DRAWN = 40


def _depths(nodes: list[str], paths: list[tuple[str, str]]) -> dict[str, int]:
    """Column of each node: the length of the longest chain of paths leading to it (exogenous = 0)."""
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):
        changed = False
        for lhs, rhs in paths:
            if lhs in depth and rhs in depth and depth[lhs] < depth[rhs] + 1 and depth[rhs] + 1 < len(nodes):
                depth[lhs] = depth[rhs] + 1
                changed = True
        if not changed:
            break
    return depth


_COLUMN_GAP = 170.0


def _diagram_geometry(result: dict) -> dict[str, Any]:
    constructs: dict[str, list[str]] = dict(result.get("constructs") or {})
    estimates = result.get("estimates") or []
    paths = [(str(a), str(b)) for a, b in (result.get("paths") or [])]
    nodes = list(constructs)
    for lhs, rhs in paths:
        for name in (lhs, rhs):
            if name not in nodes:
                nodes.append(name)
    n_items = sum(len(v) for v in constructs.values())
    show_items = n_items <= _MAX_ITEMS_DRAWN
    loading = {(e["lhs"], e["rhs"]): e for e in estimates if e.get("op") == "=~"}
    regression = {(e["lhs"], e["rhs"]): e for e in estimates if e.get("op") == "~"}
    depth = _depths(nodes, paths)
    columns: dict[int, list[str]] = {}
    for name in nodes:
        columns.setdefault(depth[name], []).append(name)

    def block_width(name: str) -> float:
        rx = max(52.0, 4.2 * len(name) + 18.0)
        items = [i for i in constructs.get(name, []) if i not in constructs] if show_items else []
        return max(2 * rx, len(items) * (_ITEM_W + _ITEM_GAP) - _ITEM_GAP)

    block_h = 2 * _RY + (_ITEM_H + 58 if show_items else 24)
    # Paths that skip a column are drawn as arcs over the top, so they do not run through other nodes.
    skipping = [(a, b) for a, b in paths if a in depth and b in depth and abs(depth[a] - depth[b]) > 1]
    top = 20.0 + (70.0 if skipping else 0.0)
    x = 20.0
    shapes, boxes, loads, arrows = [], [], [], []
    centre: dict[str, tuple[float, float, float]] = {}
    height = 0.0
    tallest = max((len(names) for names in columns.values()), default=0)
    for col in sorted(columns):
        width = max(block_width(n) for n in columns[col])
        # a shorter column (the outcomes) sits at the middle height of the tallest (the predictors)
        y = top + (tallest - len(columns[col])) * (block_h + 16) / 2
        for name in columns[col]:
            rx = max(52.0, 4.2 * len(name) + 18.0)
            cx, cy = x + width / 2, y + _RY
            is_construct = name in constructs
            shapes.append({"name": name, "cx": cx, "cy": cy, "rx": rx, "ry": _RY, "ellipse": is_construct})
            centre[name] = (cx, cy, rx)
            items = [i for i in constructs.get(name, []) if i not in constructs] if show_items else []
            row_w = len(items) * (_ITEM_W + _ITEM_GAP) - _ITEM_GAP
            bx = cx - row_w / 2
            by = cy + _RY + 34
            for item in items:
                est = loading.get((name, item), {})
                boxes.append({"name": item, "x": bx, "y": by, "w": _ITEM_W, "h": _ITEM_H})
                loads.append(
                    {
                        "x1": cx,
                        "y1": cy + _RY,
                        "x2": bx + _ITEM_W / 2,
                        "y2": by,
                        "label": fmt_number(est.get("std_all"), 2),
                        "lx": bx + _ITEM_W / 2,
                        "ly": by + _ITEM_H + 13,
                        "weak": _passes(result.get("thresholds") or {}, "loading", _abs(est.get("std_all")))
                        is False,
                    }
                )
                bx += _ITEM_W + _ITEM_GAP
            y += block_h + 16
        height = max(height, y)
        x += width + _COLUMN_GAP
    # arrows into one outcome from the column on its left arrive at its left side, spread top to bottom in the
    # order of their predictors, so they neither meet in one point nor cross the outcome's item boxes
    incoming: dict[str, list[str]] = {}
    for lhs, rhs in paths:
        if lhs in centre and rhs in centre and (lhs, rhs) not in skipping and centre[lhs][0] > centre[rhs][0]:
            incoming.setdefault(lhs, []).append(rhs)
    arrival: dict[tuple[str, str], tuple[float, float]] = {}
    for lhs, sources in incoming.items():
        x2, y2, r2 = centre[lhs]
        ordered = sorted(sources, key=lambda name: centre[name][1])
        for i, rhs in enumerate(ordered):
            dy = 0.0 if len(ordered) == 1 else (-0.6 + 1.2 * i / (len(ordered) - 1)) * _RY
            arrival[(lhs, rhs)] = (x2 - r2 * math.sqrt(max(0.0, 1 - (dy / _RY) ** 2)) - 3.0, y2 + dy)
    for lhs, rhs in paths:
        if lhs not in centre or rhs not in centre:
            continue
        (x2, y2, r2), (x1, y1, r1) = centre[lhs], centre[rhs]
        if (lhs, rhs) in arrival:
            sx, sy = x1 + r1, y1
            ex, ey = arrival[(lhs, rhs)]
            mid = (sx + ex) / 2
            d = f"M{sx:.1f},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ey:.1f} {ex:.1f},{ey:.1f}"
            lx, ly = mid, (sy + ey) / 2 - 6
        else:
            if (lhs, rhs) in skipping:
                qx, qy = (x1 + x2) / 2, min(y1, y2) - _RY - 60
            else:
                qx, qy = (x1 + x2) / 2, (y1 + y2) / 2
            sx, sy = _towards(x1, y1, r1, qx, qy, 0.0)
            ex, ey = _towards(x2, y2, r2, qx, qy, 3.0)
            d = f"M{sx:.1f},{sy:.1f} Q{qx:.1f},{qy:.1f} {ex:.1f},{ey:.1f}"
            lx, ly = (sx + 2 * qx + ex) / 4, (sy + 2 * qy + ey) / 4 - 6
        est = regression.get((lhs, rhs), {})
        coefficient = est.get("std_all", est.get("est"))
        arrows.append(
            {
                "d": d,
                "lx": lx,
                "ly": ly,
                "label": fmt_number(coefficient, 2) + stars(est.get("pvalue")),
                "significant": bool(stars(est.get("pvalue"))),
            }
        )
    return {
        "width": max(x - _COLUMN_GAP + 20, 200.0),
        "height": max(height, 80.0),
        "shapes": shapes,
        "boxes": boxes,
        "loadings": loads,
        "arrows": arrows,
        "show_items": show_items,
    }


def _abs(value: Any) -> Any:
    return abs(value) if isinstance(value, int | float) else value


def _towards(cx: float, cy: float, rx: float, tx: float, ty: float, gap: float) -> tuple[float, float]:
    """The point on the outline of the ellipse at (cx, cy) facing (tx, ty), moved ``gap`` further out."""
    dx, dy = tx - cx, ty - cy
    dist = math.hypot(dx, dy) or 1.0
    ux, uy = dx / dist, dy / dist
    reach = _edge(rx, ux, uy) + gap
    return cx + ux * reach, cy + uy * reach


def _edge(rx: float, ux: float, uy: float) -> float:
    """Distance from an ellipse's centre to its outline in direction (ux, uy)."""
    return 1.0 / math.sqrt((ux / rx) ** 2 + (uy / _RY) ** 2)


def path_diagram_svg(result: dict) -> str:
    """The model as an SVG path diagram.

    Constructs are ellipses, items boxes under their construct (left out when the model has more than
    40 items), observed predictors boxes; each structural path is an arrow labelled with its standardised
    coefficient and stars (``*`` p < .05, ``**`` p < .01, ``***`` p < .001), each item line with its
    standardised loading (grey when below the loading threshold).
    """
    return _environment().get_template("path_diagram.svg.j2").render(g=_diagram_geometry(result))


# --------------------------------------------------------------------------------------------- charts


def _colours(k: int) -> list[str]:
    """``k`` colours spread evenly along the diverging palette (interpolated, so no two points share one)."""
    if k <= 1:
        return [_DIVERGING[-1]]
    stops = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in _DIVERGING]
    out = []
    for i in range(k):
        pos = i * (len(stops) - 1) / (k - 1)
        lo = min(int(pos), len(stops) - 2)
        frac = pos - lo
        rgb = [round(a + (b - a) * frac) for a, b in zip(stops[lo], stops[lo + 1], strict=True)]
        out.append("#" + "".join(f"{v:02x}" for v in rgb))
    return out


def _distribution_chart(result: dict) -> dict[str, Any] | None:
    rows = result.get("distributions") or []
    if not rows:
        return None
    labels = list(rows[0].get("labels") or [])
    colours = _colours(len(labels))
    label_w, bar_w, bar_h, gap = 120, 460, 16, 6
    bars, y, current = [], 30, object()
    for row in rows:
        if row.get("construct") != current:
            current = row.get("construct")
            bars.append({"heading": current or "other variables", "y": y + 12})
            y += 18
        total = sum(row.get("counts") or []) or 1
        segments, x = [], label_w
        for count, colour, label in zip(row.get("counts") or [], colours, labels, strict=False):
            w = bar_w * count / total
            segments.append(
                {"x": x, "w": w, "colour": colour, "title": f"{label}: {count} ({100 * count / total:.0f} %)"}
            )
            x += w
        bars.append({"item": row.get("item"), "y": y, "segments": segments})
        y += bar_h + gap
    legend = []
    lx = label_w
    step = bar_w / max(len(labels), 1)
    for label, colour in zip(labels, colours, strict=False):
        legend.append({"x": lx, "colour": colour, "label": label})
        lx += step
    return {
        "width": label_w + bar_w + 10,
        "height": y + 8,
        "bars": bars,
        "legend": legend,
        "bar_h": bar_h,
        "label_w": label_w,
        "bar_w": bar_w,
    }


def _mean_chart(result: dict) -> dict[str, Any] | None:
    rows = result.get("one_sample_t") or []
    scale = result.get("scale") or [0, 1]
    lo, hi = float(scale[0]), float(scale[1])
    if not rows or hi <= lo:
        return None
    label_w, bar_w, bar_h, gap = 120, 420, 18, 8

    def sx(v: float) -> float:
        return label_w + bar_w * (min(max(v, lo), hi) - lo) / (hi - lo)

    bars = []
    for i, row in enumerate(rows):
        y = 26 + i * (bar_h + gap)
        mean = row.get("mean")
        if mean is None:
            continue
        ci = (row.get("ci_low"), row.get("ci_high"), row.get("mu"))
        ci_x = None
        if all(isinstance(v, int | float) for v in ci):
            ci_x = (sx(ci[2] + ci[0]), sx(ci[2] + ci[1]))
        bars.append(
            {
                "label": row.get("construct"),
                "y": y,
                "w": sx(mean) - label_w,
                "value": fmt_number(mean, 2),
                "ci": ci_x,
                "vx": max(sx(mean), ci_x[1] if ci_x else 0.0) + 6,
            }
        )
    mid = result.get("midpoint")
    ticks = [{"x": sx(v), "label": f"{v:g}"} for v in _ticks(lo, hi)]
    height = 26 + len(rows) * (bar_h + gap) + 24
    return {
        "width": label_w + bar_w + 60,
        "height": height,
        "bars": bars,
        "bar_h": bar_h,
        "label_w": label_w,
        "ticks": ticks,
        "axis_y": height - 22,
        "mid_x": sx(float(mid)) if isinstance(mid, int | float) else None,
    }


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = 1.0 if span <= 10 else 10.0 if span <= 100 else span / 10
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _nps_chart(result: dict) -> dict[str, Any] | None:
    nps = result.get("nps")
    if not nps or not nps.get("n"):
        return None
    n = nps["n"]
    width = 520
    parts, x = [], 0.0
    for key, label, colour in (
        ("detractors", "Detractors (0\u20136)", "#b2182b"),
        ("passives", "Passives (7\u20138)", "#bdbdbd"),
        ("promoters", "Promoters (9\u201310)", "#2166ac"),
    ):
        count = nps.get(key) or 0
        w = width * count / n
        parts.append(
            {"x": x, "w": w, "colour": colour, "label": label, "percent": f"{100 * count / n:.0f} %"}
        )
        x += w
    return {"width": width, "parts": parts}


def _servqual_chart(result: dict) -> dict[str, Any] | None:
    servqual = result.get("servqual")
    if not servqual or not servqual.get("dimensions"):
        return None
    rows = servqual["dimensions"]
    gaps = [abs(r.get("gap") or 0.0) for r in rows]
    reach = max(max(gaps), 0.5)
    label_w, half, bar_h, gap = 130, 200, 18, 8
    zero = label_w + half
    bars = []
    for i, row in enumerate(rows):
        value = row.get("gap") or 0.0
        w = half * abs(value) / reach
        bars.append(
            {
                "label": row.get("dimension"),
                "y": 20 + i * (bar_h + gap),
                "x": zero - w if value < 0 else zero,
                "w": w,
                "negative": value < 0,
                "value": fmt_number(row.get("gap"), 2),
                "vx": zero - w - 4 if value < 0 else zero + w + 4,
            }
        )
    return {
        "width": label_w + 2 * half + 50,
        "height": 20 + len(rows) * (bar_h + gap) + 10,
        "bars": bars,
        "bar_h": bar_h,
        "zero": zero,
    }


# --------------------------------------------------------------------------------------------- rendering


def _context(result: dict) -> dict[str, Any]:
    thresholds = result.get("thresholds") or THRESHOLDS
    estimates = result.get("estimates") or []
    return {
        "r": result,
        "thresholds": thresholds,
        "passes": lambda key, value: _passes(thresholds, key, value),
        "rule": lambda key, bare=False: _rule_text(thresholds, key, bare),
        "loadings": [e for e in estimates if e.get("op") == "=~"],
        "regressions": [e for e in estimates if e.get("op") == "~"],
        "covariances": [e for e in estimates if e.get("op") == "~~" and e.get("lhs") != e.get("rhs")],
        "is_pls": result.get("method") == "pls",
        "diagram": Markup(path_diagram_svg(result)) if result.get("constructs") else None,
        "distribution_chart": _distribution_chart(result),
        "mean_chart": _mean_chart(result),
        "nps_chart": _nps_chart(result),
        "servqual_chart": _servqual_chart(result),
        "fit_keys": [
            k
            for k in ("chi2_df", "rmsea", "cfi", "tli", "srmr", "gfi", "agfi", "nfi", "ifi")
            if k in (result.get("fit") or {})
        ],
        "abs": _abs,
    }


def render_report_body(result: dict) -> str:
    """The report as an HTML fragment: tables, the path diagram and charts; every class starts with ``pr-``.

    Parameters
    ----------
    result : dict
        What :func:`patron.surveys.analysis.analyze` returned (or the same dict read back from JSON).

    Returns
    -------
    str
        A ``<div class="pr-report">`` with one ``<section>`` per part (sample, fit, model, reliability,
        validity, descriptives, normality, ranking, t-tests, distributions, NPS, CSAT, SERVQUAL, notes).
    """
    return _environment().get_template("report_body.html.j2").render(**_context(result))


def render_report(result: dict, *, title: str | None = None) -> str:
    """One standalone HTML document (inline CSS and SVG, no scripts or external files) holding the report.

    Parameters
    ----------
    result : dict
        What :func:`patron.surveys.analysis.analyze` returned.
    title : str, optional
        Page title (default: ``result["title"]``).
    """
    body = Markup(render_report_body(result))
    page_title = title if title is not None else result.get("title") or "Survey analysis"
    return _environment().get_template("report_document.html.j2").render(title=page_title, body=body)
