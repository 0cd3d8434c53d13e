"""A PNG chart of one benchmark result: per case, a group of wall-time bars, one per tool.

    python -m bench.chart bench/results/latest-full.json out.png

``bench.run`` writes one next to each result table; this entry point redraws one from a
result .json. Needs matplotlib (bench/requirements.txt); drawn with the Agg backend.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path
from typing import Any

TOOLS = ("ours", "s5cmd", "aws")
COLORS = {"ours": "#1f77b4", "s5cmd": "#ff7f0e", "aws": "#2ca02c"}
BAR_WIDTH = 0.26
INSTALL_HINT = "pip install -r bench/requirements.txt"


def write_chart(data: dict[str, Any], path: Path) -> bool:
    """Draw ``data`` (a result .json's content) into ``path``; False if matplotlib is
    not installed (after one warning line on stderr)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print(
            f"bench: warning: matplotlib not installed, no chart ({INSTALL_HINT})", file=sys.stderr
        )
        return False
    cases = data["cases"]
    width = max(10.0, 1.35 * len(cases) + 2.5)
    fig = Figure(figsize=(width, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    walls: list[float] = []
    notes: list[str] = []
    for i, case in enumerate(cases):
        rows = [r for r in case["rows"] if r["tool"] in TOOLS and r.get("wall_s_min")]
        notes += [
            f"{case['key']} {r['tool']}: {r['verified'].replace('**', '')}"
            for r in case["rows"]
            if not r.get("wall_s_min") and r.get("verified")
        ]
        for j, row in enumerate(rows):
            wall = row["wall_s_min"]
            failed = bool(row.get("failure"))
            x = i + (j - (len(rows) - 1) / 2) * BAR_WIDTH
            ax.bar(
                x,
                wall,
                BAR_WIDTH * 0.92,
                color=COLORS[row["tool"]],
                hatch="//" if failed else None,
                edgecolor="black" if failed else COLORS[row["tool"]],
            )
            label = _seconds(wall) + ("\nFAILED" if failed else "")
            ax.annotate(
                label,
                (x, wall),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color="red" if failed else "black",
            )
            walls.append(wall)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    if walls:
        ax.set_ylim(10 ** math.floor(math.log10(min(walls) * 0.6)), max(walls) * 4)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(
        [f"{c['key']}\n{textwrap.fill(c['title'], 22)}" for c in cases], fontsize=7.5
    )
    ax.set_xlim(-0.6, len(cases) - 0.4)
    ax.set_ylabel("wall seconds, fastest run (log scale; lower is better)")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    used = [t for t in TOOLS if any(r["tool"] == t for c in cases for r in c["rows"])]
    ax.legend(handles=[Patch(color=COLORS[t], label=t) for t in used], loc="upper left", ncols=3)
    fig.suptitle(_title(data), fontsize=11)
    if notes:
        lines = [textwrap.shorten(f"not charted: {note}", int(width * 16)) for note in notes]
        fig.supxlabel("\n".join(lines), fontsize=7.5, ha="left", x=0.01)
    fig.savefig(path, dpi=110)
    return True


def _title(data: dict[str, Any]) -> str:
    settings, machine = data["settings"], data["machine"]
    started = str(settings.get("started_utc", ""))[:16].replace("T", " ")
    commit = machine.get("commit") or "unknown"
    if machine.get("pipeline_dirty"):
        commit += " + local changes to pipeline/"
    repeat = settings.get("repeat", "?")
    runs = "1 run" if repeat == 1 else f"{repeat} runs"
    return (
        f"s3-parallel-put benchmark ({settings.get('mode', '?')}), {started} UTC\n"
        f"commit {commit}; {machine.get('usable_cpus', '?')} CPUs; {runs} per tool and case; "
        "SeaweedFS on the same machine"
    )


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.chart RESULT.json OUT.png", file=sys.stderr)
        return 2
    data = json.loads(Path(args[0]).read_text())
    if not write_chart(data, Path(args[1])):
        return 1
    print(f"wrote {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
