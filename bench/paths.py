"""Where the benchmark keeps its files, and how it prints where they went."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work"  # generated trees and run logs (git-ignored)
RESULTS = REPO / "bench" / "results"


def shown(path: Path) -> str:
    """``path`` relative to the repository if it is inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def log(message: str) -> None:
    print(message, flush=True)
