import numpy as np
import pytest

from sdstudio.train import dataset as ds


@pytest.mark.parametrize(
    ("name", "emoji", "caption"),
    [
        (":woman_technologist_medium_skin_tone:", "", "woman technologist, medium skin tone"),
        (":woman_medium_skin_tone_beard:", "", "woman beard, medium skin tone"),
        (":red_apple:", "🍎", "red apple"),
        (":France:", "🇫🇷", "flag of France"),
        (":chequered_flag:", "🏁", "chequered flag"),
    ],
)
def test_captions_read_like_english(name, emoji, caption):
    assert ds.caption_from_name(name, emoji) == caption


def test_alternative_captions_include_the_unicode_name():
    import emoji as pkg

    assert "smiling face with sunglasses" not in ds.alternative_captions("😎", pkg.EMOJI_DATA["😎"])
    assert "sunglasses" in ds.alternative_captions("😎", pkg.EMOJI_DATA["😎"])
    assert "red apple" not in ds.alternative_captions("🍎", pkg.EMOJI_DATA["🍎"])


def test_an_alias_that_names_another_emoji_is_dropped():
    captions = ["smiling face with sunglasses", "sunglasses", "cat face"]
    alts = [["sunglasses", "cool"], ["dark sunglasses"], ["Cat Face", "kitty"]]
    assert ds.without_other_names(captions, alts) == [["cool"], ["dark sunglasses"], ["kitty"]]


def test_heldout_split_is_stable_and_about_five_percent():
    table = list(ds.candidate_emoji())
    share = np.mean([ds.is_heldout(e) for e in table])
    assert 0.03 < share < 0.07
    assert [ds.is_heldout(e) for e in table[:50]] == [ds.is_heldout(e) for e in table[:50]]


@pytest.mark.skipif(not ds.FONT_PATH.exists(), reason="fonts-noto-color-emoji is not installed (apt-get install)")
def test_builder_renders_single_glyphs_and_round_trips(tmp_path):
    data = ds.build(tmp_path / "e.npz", only=["😀", "🍎", "🇫🇷", "👩🏽‍💻"])
    assert data.images.shape == (4, 64, 64, 3) and data.images.dtype == np.uint8
    assert data.captions == ["grinning face", "red apple", "flag of France", "woman technologist, medium skin tone"]
    assert data.images[:, 0, 0].min() > 240, "corners are white background"
    assert data.images.std() > 30, "glyphs are drawn in colour"
    again = ds.load(tmp_path / "e.npz")
    assert again.captions == data.captions and (again.images == data.images).all()
    font = ds.load_font()
    assert ds.render("a", font) is None, "letters have no colour glyph: skipped"
    assert ds.render("😀😀", font) is None, "two glyphs are skipped"


@pytest.mark.skipif(not ds.FONT_PATH.exists(), reason="fonts-noto-color-emoji is not installed (apt-get install)")
def test_emoji_sharing_one_glyph_keep_their_own_captions(tmp_path):
    # Noto draws the flags of France and St. Martin alike; both names must reach training.
    data = ds.build(tmp_path / "e.npz", only=["🇲🇫", "🇫🇷", "🍎"])
    assert data.captions == ["flag of St. Martin", "flag of France", "red apple"]
    assert (data.images[0] == data.images[1]).all()
    assert data.heldout[0] == data.heldout[1] == ds.is_heldout("🇲🇫")
