#!/usr/bin/env python3
"""Plot routing curves (accuracy vs cloud share) from `tandem router eval-routing --json` output.

    python3 bench/routing/plot_routing.py --out build/routing/mmlu.svg \
        --title "Held-out MMLU domains" \
        --curve "kNN=build/routing/knn_mmlu.json" --curve "logreg=build/routing/lr_mmlu.json"

Each JSON file is one router on one test set:
  {"n": int, "weak_accuracy": float, "strong_accuracy": float, "apgr": float,
   "cpt50": float, "cpt80": float,            (cloud-share percentages, 0..100)
   "curve": [{"cloud_share": 0..1, "accuracy": float, "pgr": float}, ...]}

Writes a hand-made SVG (no libraries): one polyline per curve, the random router's straight line
from the weak model's accuracy (0% cloud) to the strong model's (100% cloud), the weak and strong
accuracies as dotted reference lines, axes with ticks, a legend and a title. Prints a Markdown
table (label, n, weak acc, strong acc, APGR, CPT(50%), CPT(80%)) to stdout, and to --markdown FILE
if given. APGR and CPT come from `tandem router eval-routing`, which computes them as RouteLLM does
(11 points, trapezoid, linear interpolation). Standard library only.
"""

import argparse
import json
import math
import pathlib
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22"]

# Plot geometry (SVG user units = px).
WIDTH, HEIGHT = 760, 520
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 54, 62


def load_curve(label, path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    for key in ("n", "weak_accuracy", "strong_accuracy", "curve"):
        if key not in d:
            sys.exit(f"{path}: no '{key}' field")
    points = sorted((float(p["cloud_share"]), float(p["accuracy"])) for p in d["curve"])
    if not points:
        sys.exit(f"{path}: empty curve")
    return {"label": label, "path": str(path), "n": d["n"],
            "weak": float(d["weak_accuracy"]), "strong": float(d["strong_accuracy"]),
            "apgr": d.get("apgr"), "cpt50": d.get("cpt50"), "cpt80": d.get("cpt80"),
            "points": points}


def nice_step(span, target_ticks):
    """A 1/2/5 x 10^k step giving about target_ticks intervals over span."""
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt_tick(v, step):
    decimals = 0
    while decimals < 6 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9:
        decimals += 1
    return f"{v:.{decimals}f}"


def fmt_num(v, spec):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def render_svg(curves, title, y_scale):
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    ys = [a for c in curves for _, a in c["points"]] + [c["weak"] for c in curves] + \
         [c["strong"] for c in curves]
    ys = [y * y_scale for y in ys]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    step = nice_step(hi - lo, 6)
    y0 = math.floor(lo / step - 0.25) * step
    y1 = math.ceil(hi / step + 0.25) * step

    def sx(share):  # share in 0..1
        return LEFT + share * pw

    def sy(acc):  # acc already scaled
        return TOP + (1 - (acc - y0) / (y1 - y0)) * ph

    out = []
    add = out.append
    add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
    add(f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>')
    add(f'<text x="{WIDTH / 2:.1f}" y="30" text-anchor="middle" font-size="17" '
        f'font-weight="bold">{escape(title)}</text>')

    # Grid and ticks.
    add('<g stroke="#e6e6e6" stroke-width="1">')
    for xv in range(0, 101, 10):
        add(f'<line x1="{sx(xv / 100):.1f}" y1="{TOP}" x2="{sx(xv / 100):.1f}" y2="{TOP + ph}"/>')
    n_y = int(round((y1 - y0) / step))
    for i in range(n_y + 1):
        yv = y0 + i * step
        add(f'<line x1="{LEFT}" y1="{sy(yv):.1f}" x2="{LEFT + pw}" y2="{sy(yv):.1f}"/>')
    add('</g>')
    add(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    add('<g font-size="12" fill="#333">')
    for xv in range(0, 101, 10):
        x = sx(xv / 100)
        add(f'<line x1="{x:.1f}" y1="{TOP + ph}" x2="{x:.1f}" y2="{TOP + ph + 5}" stroke="#333"/>')
        add(f'<text x="{x:.1f}" y="{TOP + ph + 19}" text-anchor="middle">{xv}</text>')
    for i in range(n_y + 1):
        yv = y0 + i * step
        y = sy(yv)
        add(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>')
        add(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{fmt_tick(yv, step)}</text>')
    add('</g>')
    add(f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 18}" text-anchor="middle" font-size="14">'
        'cloud (strong model) share (%)</text>')
    y_label = "accuracy (%)" if y_scale == 100 else "accuracy"
    add(f'<text transform="translate(20 {TOP + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="14">{y_label}</text>')

    # Clip everything data-driven to the plot area.
    add(f'<clipPath id="plot"><rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/></clipPath>')
    add('<g clip-path="url(#plot)">')

    # Reference lines: weak/strong accuracy and the random router, once per distinct test set.
    refs = []
    for c in curves:
        key = (round(c["weak"], 9), round(c["strong"], 9))
        if key not in [r[0] for r in refs]:
            refs.append((key, c))
    legend = []
    for i, (_, c) in enumerate(refs):
        w, s = c["weak"] * y_scale, c["strong"] * y_scale
        suffix = f" ({c['label']})" if len(refs) > 1 else ""
        color = "#555" if len(refs) == 1 else COLORS[curves.index(c) % len(COLORS)]
        for v in (w, s):
            add(f'<line x1="{LEFT}" y1="{sy(v):.1f}" x2="{LEFT + pw}" y2="{sy(v):.1f}" '
                f'stroke="#999" stroke-width="1" stroke-dasharray="2 3"/>')
        vf = ".1f" if y_scale == 100 else ".3f"
        # Labels at the left end: curves start at the weak accuracy and climb, so below the weak
        # line and above the strong line is usually free there.
        add(f'<text x="{LEFT + 6}" y="{sy(w) + 14:.1f}" font-size="11" fill="#666">'
            f'weak only {w:{vf}}{escape(suffix)}</text>')
        add(f'<text x="{LEFT + 6}" y="{sy(s) - 5:.1f}" font-size="11" fill="#666">'
            f'strong only {s:{vf}}{escape(suffix)}</text>')
        add(f'<line x1="{sx(0):.1f}" y1="{sy(w):.1f}" x2="{sx(1):.1f}" y2="{sy(s):.1f}" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="7 5"/>')
        legend.append(("random router" + suffix, color, True))

    for i, c in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{sx(x):.1f},{sy(a * y_scale):.1f}" for x, a in c["points"])
        add(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.2" '
            'stroke-linejoin="round"/>')
        if len(c["points"]) <= 41:
            for x, a in c["points"]:
                add(f'<circle cx="{sx(x):.1f}" cy="{sy(a * y_scale):.1f}" r="2.8" fill="{color}"/>')
        apgr = fmt_num(c["apgr"], ".3f")
        legend.append((f"{c['label']} (APGR {apgr})", color, False))
    add('</g>')

    # Legend, bottom right inside the plot (routing curves live above the random diagonal).
    row_h, pad = 18, 8
    text_w = max(len(t) for t, _, _ in legend) * 6.8
    box_w, box_h = 36 + text_w + 2 * pad, len(legend) * row_h + 2 * pad - 4
    bx, by = LEFT + pw - box_w - 10, TOP + ph - box_h - 10
    add(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{box_w:.1f}" height="{box_h:.1f}" fill="white" '
        'fill-opacity="0.9" stroke="#bbb"/>')
    for i, (text, color, dashed) in enumerate(legend):
        y = by + pad + i * row_h + 7
        dash = ' stroke-dasharray="7 5"' if dashed else ""
        width = 1.5 if dashed else 2.2
        add(f'<line x1="{bx + pad:.1f}" y1="{y:.1f}" x2="{bx + pad + 26:.1f}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-width="{width}"{dash}/>')
        add(f'<text x="{bx + pad + 34:.1f}" y="{y + 4:.1f}" font-size="12">{escape(text)}</text>')
    add("</svg>")
    return "\n".join(out) + "\n"


def markdown_table(curves):
    head = "| label | n | weak acc | strong acc | APGR | CPT(50%) | CPT(80%) |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    lines = [head, rule]
    for c in curves:
        scale = 100 if c["strong"] <= 1.0 + 1e-9 else 1
        line = (f"| {c['label']} | {c['n']} | {c['weak'] * scale:.1f}% | {c['strong'] * scale:.1f}% | "
                f"{fmt_num(c['apgr'], '.3f')} | {fmt_num(c['cpt50'], '.1f')}% | "
                f"{fmt_num(c['cpt80'], '.1f')}% |")
        lines.append(line.replace("-%", "-"))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--curve", action="append", required=True, metavar="LABEL=FILE",
                    help="a router's eval-routing JSON with its legend label (repeatable)")
    ap.add_argument("--out", type=pathlib.Path, required=True, help="SVG file to write")
    ap.add_argument("--title", default="Routing: accuracy vs cloud share")
    ap.add_argument("--markdown", type=pathlib.Path, help="also write the table to this file")
    args = ap.parse_args()

    curves = []
    for spec in args.curve:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            sys.exit(f"--curve wants LABEL=FILE, got {spec!r}")
        curves.append(load_curve(label, pathlib.Path(path)))

    # Accuracies in 0..1 are drawn as percentages.
    all_acc = [a for c in curves for _, a in c["points"]] + [c["strong"] for c in curves]
    y_scale = 100 if max(all_acc) <= 1.0 + 1e-9 else 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_svg(curves, args.title, y_scale), encoding="utf-8")
    table = markdown_table(curves)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
