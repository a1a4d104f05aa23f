"""Outpainting as a user meets it: a bigger picture whose original pixels are untouched away from
the seam, a new area that continues the edge colours, and clear errors for bad extensions."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sdstudio.engine import outpaint
from sdstudio.engine.engine import Engine
from sdstudio.engine.inpaint import feathered_mask
from sdstudio.engine.outpaint import Extension, extend_canvas, outpaint_request
from sdstudio.engine.requests import GenerationRequest, Mode
from sdstudio.errors import InputError
from tests.tiny_models import loaded_model


def picture(size=(48, 40)) -> Image.Image:
    image = Image.new("RGB", size, (200, 40, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 8, 30, 30), fill=(20, 180, 60))
    draw.line((0, size[1] - 1, size[0], 0), fill=(250, 250, 0), width=3)
    return image


def job_request(**changes) -> GenerationRequest:
    base = dict(prompt="a landscape", sampler="Euler a", steps=4, cfg_scale=6.0, seed=3, strength=0.9)
    return GenerationRequest(**{**base, **changes})


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture
def inpainting_engine(inpainting_pipe):
    engine = Engine()
    engine.use(loaded_model(inpainting_pipe, name="tiny-inpainting"))
    return engine


@pytest.mark.parametrize("engine_name", ["sd_engine", "inpainting_engine"])
def test_outpaint_keeps_the_original_pixels_away_from_the_seam(request, engine_name):
    engine = request.getfixturevalue(engine_name)
    original = picture((96, 64))
    extension = Extension(left=16, top=8, right=24, bottom=0)
    job = outpaint_request(job_request(), original, extension)
    assert job.mode is Mode.INPAINT and (job.width, job.height) == (136, 72)
    result = engine.generate(job).images[0].image
    assert result.size == (136, 72)
    inner = pixels(result)[8:72, 16:112]
    # Exactly the original wherever the feathered mask is 0 ...
    untouched = np.asarray(feathered_mask(job.mask_image, job.mask_feather))[8:72, 16:112] == 0
    assert np.array_equal(inner[untouched], pixels(original)[untouched])
    # ... which is everything farther than the overlap plus the feather from an extended side.
    seam = outpaint.DEFAULT_OVERLAP + 2 * job.mask_feather
    assert untouched[seam:, seam : 96 - seam].all()
    assert untouched[seam:, seam : 96 - seam].size > 0
    # The new strips were drawn, not left as the fill.
    assert np.abs(pixels(result)[:, :16] - pixels(job.init_image)[:, :16]).mean() > 0.5


def test_the_fill_continues_the_edge_colours_with_seeded_noise():
    original = Image.new("RGB", (64, 32), (0, 0, 255))
    original.paste((255, 0, 0), (0, 0, 32, 32))  # left half red, right half blue
    canvas, mask = extend_canvas(original, Extension(left=32, right=32), seed=1)
    strip_left = pixels(canvas)[:, :24].mean(axis=(0, 1))
    strip_right = pixels(canvas)[:, -24:].mean(axis=(0, 1))
    assert strip_left[0] > 200 and strip_left[2] < 60  # red continues left
    assert strip_right[2] > 200 and strip_right[0] < 60  # blue continues right
    assert pixels(canvas)[:, :24].std() > 5  # noise, so the model has texture to work from
    again, _ = extend_canvas(original, Extension(left=32, right=32), seed=1)
    assert np.array_equal(pixels(canvas), pixels(again))
    # mask: new area and 16 px of overlap white, the rest of the picture black
    m = np.asarray(mask)
    assert m.shape == (32, 128)
    assert (m[:, : 32 + 16] == 255).all() and (m[:, -(32 + 16) :] == 255).all()
    assert (m[:, 48:80] == 0).all()


def test_a_picture_not_in_multiples_of_8_is_padded_on_the_right_and_bottom_never_resized():
    original = picture((45, 37))
    job = outpaint_request(job_request(), original, Extension(top=8))
    assert (job.width, job.height) == (48, 48)
    assert np.array_equal(pixels(job.init_image)[8:45, 0:45], pixels(original))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8,8,8", "must be four whole numbers"),
        ("a,b,c,d", "must be four whole numbers"),
        ("12,0,0,0", "extend left 12 is not a multiple of 8 .*; try 8 or 16"),
        ("0,0,-8,0", "extend right -8 is not a multiple of 8"),
        ("0,0,0,0", "extend by at least 8 pixels on one side"),
    ],
)
def test_bad_extensions_are_refused_with_what_to_fix(text, message):
    with pytest.raises(InputError, match=message):
        Extension.parse(text)


def test_parse_reads_left_top_right_bottom():
    assert Extension.parse("8, 16,24,0") == Extension(8, 16, 24, 0)


def test_outpaint_module_needs_no_torch():
    import subprocess
    import sys

    code = "import sys, sdstudio.engine.outpaint; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
