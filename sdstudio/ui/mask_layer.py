"""The inpainting mask as a numpy array: soft round strokes and a bounded undo history.

Kept free of Qt so the stroke maths is testable and cheap; the canvas converts to and from QImage
only at its edges. Values are 0..255, 255 = repaint (the convention of diffusers' inpaint masks).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in mask pixels, end-exclusive."""

MAX_UNDO_STEPS = 50
MAX_UNDO_BYTES = 256 * 1024 * 1024


def brush_alpha(distance: np.ndarray, radius: float, hardness: float) -> np.ndarray:
    """Coverage (0..1) of a round brush at `distance` from its centre (line).

    The inner `hardness * radius` is fully covered; outside it coverage falls to zero at `radius`
    along a smoothstep, which is what makes a feathered inpainting edge blend. A one-pixel ramp at
    the rim anti-aliases hard brushes, and keeps a 1 px brush covering the pixel it is on.
    """
    rim = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    inner = radius * hardness
    if radius - inner <= 1.0:
        return rim
    t = np.clip((distance - inner) / (radius - inner), 0.0, 1.0)
    return np.minimum(rim, 1.0 - t * t * (3.0 - 2.0 * t))


def segment_distance(xs: np.ndarray, ys: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Distance from each grid point (ys[:, None], xs[None, :]) to the segment p0-p1.

    Stamping a round brush densely along a segment and keeping the maximum coverage is the same
    as applying the falloff to this distance, so a fast stroke is continuous with no stamp spacing.
    """
    (ax, ay), (bx, by) = p0, p1
    dx, dy = bx - ax, by - ay
    px = xs[None, :] - ax
    py = ys[:, None] - ay
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return np.hypot(px, py)
    t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
    return np.hypot(px - t * dx, py - t * dy)


def _changed_box(before: np.ndarray, after: np.ndarray) -> Box | None:
    """The smallest box (relative to the arrays) that holds every differing pixel."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@dataclass(frozen=True)
class _Edit:
    """One undo step: the pixels of `box` before and after (only the changed region is kept)."""

    box: Box
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


@dataclass
class _Stroke:
    """A stroke in progress: coverage is the max over its segments, composited onto `base` once.

    Compositing from the stroke's starting mask (not incrementally) means overlapping segments of
    one stroke never build up a soft edge into a hard one, and the whole stroke is one undo step.
    """

    erase: bool
    radius: float
    hardness: float
    base: np.ndarray
    coverage: np.ndarray
    last: tuple[float, float]
    box: Box | None = None


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


class MaskLayer:
    """A grayscale mask with stroke painting, whole-mask edits and undo/redo.

    Edit methods return the box that changed (or None) so a view can repaint only that region.
    Undo memory is bounded by both a step count and a byte budget; oldest steps go first.
    """

    def __init__(
        self, width: int, height: int, max_steps: int = MAX_UNDO_STEPS, max_bytes: int = MAX_UNDO_BYTES
    ) -> None:
        self._max_steps = max_steps
        self._max_bytes = max_bytes
        self._undo: deque[_Edit] = deque()
        self._redo: list[_Edit] = []
        self._undo_bytes = 0
        self._stroke: _Stroke | None = None
        self._array = np.zeros((max(1, height), max(1, width)), np.uint8)

    # ---- state -------------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return self._array.shape[1]

    @property
    def height(self) -> int:
        return self._array.shape[0]

    @property
    def array(self) -> np.ndarray:
        """The live mask (H x W uint8). Read it; edit only through the methods, or undo breaks."""
        return self._array

    @property
    def full_box(self) -> Box:
        return 0, 0, self.width, self.height

    def is_empty(self) -> bool:
        return not self._array.any()

    def reset(self, width: int, height: int) -> None:
        """A new empty mask (a new image): the old history belongs to other pixels, so drop it."""
        self._stroke = None
        self._array = np.zeros((max(1, height), max(1, width)), np.uint8)
        self._undo.clear()
        self._redo.clear()
        self._undo_bytes = 0

    # ---- whole-mask edits (each one undo step) ---------------------------------------------

    def replace(self, values: np.ndarray) -> Box | None:
        """Set every pixel (same shape as the mask) as one undoable edit."""
        if values.shape != self._array.shape:
            raise ValueError(f"mask shape {values.shape} does not match {self._array.shape}")
        return self._commit(self._array.copy(), values.astype(np.uint8, copy=False), self.full_box)

    def clear(self) -> Box | None:
        return self.replace(np.zeros_like(self._array))

    def fill(self) -> Box | None:
        return self.replace(np.full_like(self._array, 255))

    def invert(self) -> Box | None:
        return self.replace(255 - self._array)

    # ---- strokes -----------------------------------------------------------------------------

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, x: float, y: float, radius: float, hardness: float, erase: bool = False) -> Box | None:
        """Start a stroke at image point (x, y), stamping there so a click paints a dot."""
        self._stroke = _Stroke(
            erase=erase,
            radius=max(0.5, float(radius)),
            hardness=min(1.0, max(0.0, float(hardness))),
            base=self._array.copy(),
            coverage=np.zeros(self._array.shape, np.float32),
            last=(float(x), float(y)),
        )
        return self._segment((float(x), float(y)), (float(x), float(y)))

    def stroke_to(self, x: float, y: float) -> Box | None:
        """Continue the stroke with a segment from the last point to (x, y)."""
        if self._stroke is None:
            return None
        start, self._stroke.last = self._stroke.last, (float(x), float(y))
        return self._segment(start, self._stroke.last)

    def end_stroke(self) -> Box | None:
        """Finish the stroke as one undo step; returns the changed box, or None if nothing changed."""
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke.box is None:
            return None
        x0, y0, x1, y1 = stroke.box
        before = stroke.base[y0:y1, x0:x1]
        return self._commit(before, self._array[y0:y1, x0:x1].copy(), stroke.box, applied=True)

    def cancel_stroke(self) -> Box | None:
        """Drop a stroke in progress, restoring the mask it started from."""
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke.box is None:
            return None
        x0, y0, x1, y1 = stroke.box
        self._array[y0:y1, x0:x1] = stroke.base[y0:y1, x0:x1]
        return stroke.box

    def _segment(self, p0: tuple[float, float], p1: tuple[float, float]) -> Box | None:
        stroke = self._stroke
        assert stroke is not None
        reach = stroke.radius + 1.0
        x0 = max(0, int(np.floor(min(p0[0], p1[0]) - reach)))
        y0 = max(0, int(np.floor(min(p0[1], p1[1]) - reach)))
        x1 = min(self.width, int(np.ceil(max(p0[0], p1[0]) + reach)) + 1)
        y1 = min(self.height, int(np.ceil(max(p0[1], p1[1]) + reach)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        xs = np.arange(x0, x1, dtype=np.float32) + 0.5
        ys = np.arange(y0, y1, dtype=np.float32) + 0.5
        alpha = brush_alpha(segment_distance(xs, ys, p0, p1), stroke.radius, stroke.hardness)
        coverage = stroke.coverage[y0:y1, x0:x1]
        np.maximum(coverage, alpha, out=coverage)
        base = stroke.base[y0:y1, x0:x1].astype(np.float32)
        result = base * (1.0 - coverage) if stroke.erase else base + coverage * (255.0 - base)
        self._array[y0:y1, x0:x1] = np.rint(result).astype(np.uint8)
        box = (x0, y0, x1, y1)
        stroke.box = _union(stroke.box, box)
        return box

    # ---- history -----------------------------------------------------------------------------

    def _commit(self, before: np.ndarray, after: np.ndarray, box: Box, applied: bool = False) -> Box | None:
        """Record before -> after for `box` (cropped to what changed) and apply it unless `applied`."""
        changed = _changed_box(before, after)
        if changed is None:
            return None
        cx0, cy0, cx1, cy1 = changed
        x0, y0 = box[0] + cx0, box[1] + cy0
        edit = _Edit(
            (x0, y0, box[0] + cx1, box[1] + cy1),
            before[cy0:cy1, cx0:cx1].copy(),
            after[cy0:cy1, cx0:cx1].copy(),
        )
        if not applied:
            self._put(edit.box, edit.after)
        self._redo.clear()
        self._undo.append(edit)
        self._undo_bytes += edit.nbytes
        while len(self._undo) > 1 and (len(self._undo) > self._max_steps or self._undo_bytes > self._max_bytes):
            self._undo_bytes -= self._undo.popleft().nbytes
        return edit.box

    def _put(self, box: Box, values: np.ndarray) -> None:
        x0, y0, x1, y1 = box
        self._array[y0:y1, x0:x1] = values

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_steps(self) -> int:
        return len(self._undo)

    def undo(self) -> Box | None:
        if self._stroke is not None:
            self.end_stroke()
        if not self._undo:
            return None
        edit = self._undo.pop()
        self._undo_bytes -= edit.nbytes
        self._put(edit.box, edit.before)
        self._redo.append(edit)
        return edit.box

    def redo(self) -> Box | None:
        if self._stroke is not None or not self._redo:
            return None
        edit = self._redo.pop()
        self._put(edit.box, edit.after)
        self._undo.append(edit)
        self._undo_bytes += edit.nbytes
        return edit.box
