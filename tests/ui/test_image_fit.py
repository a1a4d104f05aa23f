"""Image sizes the model can take, and a visible account of what changed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage

from sdstudio.ui.image_fit import describe_fit, fit_size, fit_to_multiple_of_8, limit_size


def _image(width: int, height: int) -> QImage:
    """Left half red, right half blue, so a crop's position is checkable."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("blue"))
    for x in range(width // 2):
        for y in range(height):
            image.setPixelColor(x, y, QColor("red"))
    return image


@pytest.mark.parametrize(
    ("size", "policy", "expected"),
    [
        ((1023, 767), "crop", (1016, 760)),
        ((1023, 767), "scale", (1024, 768)),
        ((1020, 1012), "scale", (1024, 1016)),  # half rounds up, not to even
        ((512, 512), "scale", (512, 512)),
        ((512, 512), "crop", (512, 512)),
        ((3, 5), "crop", (8, 8)),
        ((3, 5), "scale", (8, 8)),
    ],
)
def test_fit_size(size, policy, expected) -> None:
    assert fit_size(size, policy) == expected


def test_crop_takes_the_centre() -> None:
    image = _image(37, 20)
    fitted = fit_to_multiple_of_8(image, "crop")
    assert fitted.size() == QSize(32, 16)
    # 37 -> 32 removes 2 columns on the left and 3 on the right: the red/blue split stays central.
    assert fitted.pixelColor(15, 8) == QColor("red")
    assert fitted.pixelColor(17, 8) == QColor("blue")


def test_scale_resizes_and_keeps_content() -> None:
    fitted = fit_to_multiple_of_8(_image(101, 59), "scale")
    assert fitted.size() == QSize(104, 56)
    assert fitted.pixelColor(2, 28).red() > 200
    assert fitted.pixelColor(100, 28).blue() > 200


def test_an_image_that_fits_is_returned_as_is() -> None:
    image = _image(64, 48)
    assert fit_to_multiple_of_8(image, "crop") is image
    assert fit_to_multiple_of_8(image, "scale") is image


def test_tiny_image_crop_grows_to_8() -> None:
    assert fit_to_multiple_of_8(_image(4, 20), "crop").size() == QSize(8, 16)


def test_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="fit policy"):
        fit_to_multiple_of_8(_image(10, 10), "stretch")


def test_describe_fit() -> None:
    assert describe_fit((1023, 767), "crop") == "1023x767 -> 1016x760 (crop)"
    assert describe_fit(QSize(1023, 767), "scale") == "1023x767 -> 1024x768 (scale)"
    assert describe_fit((512, 768), "crop") == "512x768 (already a multiple of 8)"


def test_limit_size_scales_only_large_images() -> None:
    big = QImage(4000, 3000, QImage.Format.Format_RGB32)
    limited = limit_size(big, 1024)
    assert limited.size() == QSize(1024, 768)
    small = _image(300, 200)
    assert limit_size(small, 1024) is small
    with pytest.raises(ValueError):
        limit_size(small, 0)


def test_model_fit_keeps_the_aspect_at_about_the_models_pixel_count():
    from sdstudio.ui.image_fit import far_larger_than_model, model_fit_size

    assert model_fit_size((1366, 768), 64) == (88, 48)
    assert model_fit_size((1366, 768), 512) == (680, 384)
    assert model_fit_size((512, 512), 512) == (512, 512)
    assert far_larger_than_model((1366, 768), 64) and not far_larger_than_model((600, 500), 512)
