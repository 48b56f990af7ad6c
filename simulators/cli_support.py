"""What every simulator's command line shares: bounded number options and the stable symlink to its pty."""
from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def bounded(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], int | float]:
    """An argparse type: a number of the given kind within low..high, or a usage error saying so."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low}..{high}")
        return value
    return parse


def point_link(link: Path, target: str) -> None:
    """Make `link` a symlink to the pty slave, atomically: a driver opening it never finds it missing."""
    if os.path.lexists(link) and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; refusing to replace it")
    staging = link.with_name(f".{link.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    staging.symlink_to(target)
    os.replace(staging, link)


def remove_link(link: Path, target: str) -> None:
    """Remove the symlink, unless another simulator has taken it over since."""
    with contextlib.suppress(OSError):
        if os.readlink(link) == target:
            link.unlink()
