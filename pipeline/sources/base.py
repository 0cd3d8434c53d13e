"""The interface every kind of SOURCE implements (what a SOURCE resolves to, a
``records.Root``, is a value of its own)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.options import SourceOptions
    from pipeline.records import Root
    from pipeline.shards import Shard, Subtree
    from pipeline.transport.control import Control


@dataclass(frozen=True)
class SplitContext:
    """What splitting a SOURCE needs besides the SOURCE itself."""

    options: SourceOptions
    prefix: str  # the key prefix of the run
    position: int  # the SOURCE's place on the command line (earlier ones win a key)
    control: Callable[[], Control]  # the control plane, opened on first use


class Source(abc.ABC):
    """One kind of SOURCE (``--walk``): how SOURCE texts are checked, and how each is split
    into the units the pipeline spreads over workers: directory ``Subtree``s, which are
    walked further where they land, or ``Shard``s carrying their files already read."""

    @abc.abstractmethod
    def resolve(self, texts: tuple[str, ...]) -> tuple[Root, ...]:
        """What the SOURCEs name; a SOURCE that cannot be used is a UsageError."""

    @abc.abstractmethod
    def split(self, roots: tuple[Root, ...], context: SplitContext) -> Iterator[Subtree | Shard]:
        """The units of work under ``roots``."""
