"""A private /tmp for a stand-in worker host, keeping what the host must still see.

A worker host shares nothing with the client's /tmp. But the project itself (its venv,
and the Flink distribution in the cache) may lie under /tmp, e.g. when CI clones the
repository there; those directories are bind-mounted back at their own paths after the
fresh tmpfs is mounted, so the host can run them while the rest of /tmp stays private.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

TMP = Path("/tmp")


def shell_setup(keep: Iterable[Path], stage: Path) -> str:
    """Shell commands (for ``sh -c`` in a new mount namespace) that mount a private tmpfs
    on /tmp and keep each directory of ``keep`` under /tmp visible at its path.

    ``stage`` is an empty directory outside /tmp that holds the kept directories while
    /tmp is replaced.
    """
    kept = sorted({path.resolve() for path in keep if path.resolve().is_relative_to(TMP)})
    before, after = [], []
    for number, path in enumerate(kept):
        slot = shlex.quote(str(stage / str(number)))
        target = shlex.quote(str(path))
        before.append(f"mkdir -p {slot} && mount --bind {target} {slot}")
        after.append(f"mkdir -p {target} && mount --bind {slot} {target}")
    steps = [*before, "mount -t tmpfs -o mode=1777 tmpfs /tmp", *after]
    return " && ".join(steps)


def remove_stage(stage: Path) -> None:
    """Remove an emptied stage directory; never recursively (it held bind mounts)."""
    for slot in stage.iterdir():
        slot.rmdir()
    stage.rmdir()
