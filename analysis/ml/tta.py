"""Test-time augmentation: the fixed list of views each face is scored through.

The views are deterministic, so the same image always gives the same scores. They are ordered
so that any prefix is balanced: the plain view, its mirror, then pairs that undo each other's
bias (left and right tilts, closer and wider framing, darker and brighter).
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.ml.alignment import View

MAX_PASSES = 20
# What an analysis uses unless told otherwise (the API's and the page's default).
DEFAULT_PASSES = 10

_VIEWS: tuple[View, ...] = (
    View(),
    View(flip=True),
    View(rotate=7.0),
    View(rotate=-7.0, flip=True),
    View(zoom=1.08),
    View(zoom=0.93, flip=True),
    View(shift_x=0.04, shift_y=0.03),
    View(shift_x=-0.04, shift_y=-0.03, flip=True),
    View(gain=1.2, bias=-10.0),
    View(gain=0.85, bias=12.0, flip=True),
    View(rotate=-7.0),
    View(rotate=7.0, flip=True),
    View(zoom=0.93),
    View(zoom=1.08, flip=True),
    View(shift_x=-0.04, shift_y=0.03),
    View(shift_x=0.04, shift_y=-0.03, flip=True),
    View(rotate=4.0, zoom=1.04, gain=1.1),
    View(rotate=-4.0, zoom=1.04, gain=1.1, flip=True),
    View(rotate=-4.0, zoom=0.96, bias=8.0),
    View(rotate=4.0, zoom=0.96, bias=8.0, flip=True),
)


def views(passes: int) -> Sequence[View]:
    """The first ``passes`` views (1 to MAX_PASSES)."""
    if not 1 <= passes <= MAX_PASSES:
        raise ValueError(f"passes must be between 1 and {MAX_PASSES}, not {passes}")
    return _VIEWS[:passes]
