"""What the dev-support components share: ``start()`` and ``stop()``, and a ``with``
block that runs them."""

from __future__ import annotations

from typing import Any, Self


class Service:
    """A component started by ``start()`` (which returns it) and stopped by ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
