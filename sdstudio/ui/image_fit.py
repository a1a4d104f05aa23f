"""Bring user images to sizes the model can take: sides that are multiples of 8, and not huge.

The VAE downsamples by 8, so a 1023x767 input cannot round-trip exactly; we either scale it a
little or crop a few pixels, and `describe_fit` says which, so the change is never silent.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage

MULTIPLE = 8
FIT_POLICIES = ("scale", "crop")
FAR_LARGER = 4.0  # an image with this many times the model's native pixels is "far larger"


def _nearest_multiple(side: int) -> int:
    """Round half up (not Python's banker's rounding), never below one multiple."""
    return max(MULTIPLE, (side + MULTIPLE // 2) // MULTIPLE * MULTIPLE)


def _as_tuple(size: QSize | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, QSize):
        return size.width(), size.height()
    width, height = size
    return int(width), int(height)


def fit_size(size: QSize | tuple[int, int], policy: str) -> tuple[int, int]:
    """The multiple-of-8 size `fit_to_multiple_of_8` produces for an image of `size`.

    "scale" rounds each side to its nearest multiple, which moves the aspect ratio by at most
    4 px per side; "crop" rounds down (a crop can only remove pixels), except that a side under 8
    has to grow to 8.
    """
    width, height = _as_tuple(size)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if policy == "scale":
        return _nearest_multiple(width), _nearest_multiple(height)
    if policy == "crop":
        return max(MULTIPLE, width // MULTIPLE * MULTIPLE), max(MULTIPLE, height // MULTIPLE * MULTIPLE)
    raise ValueError(f"unknown fit policy {policy!r}; expected one of {FIT_POLICIES}")


def fit_to_multiple_of_8(image: QImage, policy: str) -> QImage:
    """`image` resized ("scale") or centre-cropped ("crop") to sides that are multiples of 8.

    An image that already fits comes back unchanged (the same QImage, which is implicitly shared).
    """
    width, height = fit_size(image.size(), policy)
    if (width, height) == (image.width(), image.height()):
        return image
    if policy == "crop" and width <= image.width() and height <= image.height():
        left = (image.width() - width) // 2
        top = (image.height() - height) // 2
        return image.copy(QRect(left, top, width, height))
    if policy == "crop":
        # A side below 8 px cannot be cropped to 8: crop what can be cropped, stretch the rest.
        crop_w, crop_h = min(width, image.width()), min(height, image.height())
        left, top = (image.width() - crop_w) // 2, (image.height() - crop_h) // 2
        image = image.copy(QRect(left, top, crop_w, crop_h))
    return image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)


def describe_fit(size: QSize | tuple[int, int], policy: str) -> str:
    """A one-line account for the UI, e.g. "1023x767 -> 1016x760 (crop)"."""
    width, height = _as_tuple(size)
    new_width, new_height = fit_size((width, height), policy)
    if (new_width, new_height) == (width, height):
        return f"{width}x{height} (already a multiple of {MULTIPLE})"
    return f"{width}x{height} -> {new_width}x{new_height} ({policy})"


def model_fit_size(size: QSize | tuple[int, int], native: int) -> tuple[int, int]:
    """The image's aspect at about the model's native pixel count (native x native), sides rounded
    to multiples of 8: what a model trained at `native` px generates well and fast."""
    width, height = _as_tuple(size)
    if width < 1 or height < 1 or native < MULTIPLE:
        raise ValueError(f"bad size {width}x{height} or native size {native}")
    scale = (native * native / (width * height)) ** 0.5
    return _nearest_multiple(round(width * scale)), _nearest_multiple(round(height * scale))


def far_larger_than_model(size: QSize | tuple[int, int], native: int) -> bool:
    """Whether an image is so much larger than the model's size that keeping it would be slow and
    off-distribution (a 1366x768 photo on a 64-px model: a 1368x768 job at ~30 s a step)."""
    width, height = _as_tuple(size)
    return width * height > FAR_LARGER * native * native


def resize_to(image: QImage, size: tuple[int, int]) -> QImage:
    if (image.width(), image.height()) == size:
        return image
    return image.scaled(size[0], size[1], Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


def limit_size(image: QImage, max_side: int) -> QImage:
    """Scale `image` down (keeping its aspect) so its longer side is at most `max_side`.

    Multi-megapixel photos would otherwise be encoded at full size, which is slow and far outside
    the resolutions the models were trained at. Smaller images come back unchanged.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    if max(image.width(), image.height()) <= max_side:
        return image
    return image.scaled(
        max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
