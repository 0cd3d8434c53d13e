"""argparse value types shared by the option groups: sizes, rates and counts."""

from __future__ import annotations

import argparse
import enum
import re
from typing import Any, ClassVar

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'8MiB', '8M', '8388608' -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 8MiB)")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtp])i?)?b?\s*$", re.IGNORECASE)
_RATE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_rate(text: str) -> int:
    """A bandwidth in rclone's syntax -> bytes per second; 0 for no limit.

    '10M' (MiB/s), '512K', '1.5G', '1000' (bytes/s); binary units, the B (or iB) after
    them optional, any case; '0' and 'off' mean no limit.
    """
    if text.strip().lower() == "off":
        return 0
    match = _RATE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"not a rate: {text!r} (bytes per second, e.g. 10M, 512K, 1.5G, 1000, or off)"
        )
    number = float(match.group(1)) * _RATE_UNITS[(match.group(2) or "").lower()]
    if number and number < 1:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} is less than 1 byte per second")
    return int(number)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def non_negative(text: str) -> int:
    return 0 if text.strip() == "0" else positive(text)


def add_choice(
    group: Any, flag: str, choices: type[enum.Enum], default: enum.Enum, help: str
) -> None:
    """An option whose values are those of an enum (stored as the value's text)."""
    group.add_argument(
        flag, choices=[choice.value for choice in choices], default=default.value, help=help
    )


class OptionGroup:
    """A group of options: its section of ``--help`` and its command-line options."""

    title: ClassVar[str]

    @staticmethod
    def add_arguments(group: Any) -> None:
        """Its options, into ``group`` (an argparse argument group)."""
        raise NotImplementedError
