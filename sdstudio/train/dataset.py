"""The emoji dataset: Noto Color Emoji glyphs rendered with Pillow, captioned from the `emoji` package.

One command builds it from installed packages (`sdstudio train dataset`) and caches it as an npz
under data/: uint8 images (N,64,64,3) on white, captions, alternative captions and a held-out flag
chosen by a hash of the emoji string (so the split never changes between builds; emoji that share
one glyph share the decision).
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # the only bitmap strike NotoColorEmoji (CBDT) has
DEFAULT_PATH = Path("data/emoji64.npz")
HELDOUT_PERCENT = 5
_TONES = r"(?:medium-light|medium-dark|light|medium|dark)_skin_tone"
_REGIONAL = range(0x1F1E6, 0x1F200)


@dataclass
class EmojiData:
    images: np.ndarray  # (N,H,W,3) uint8
    emoji: list[str]
    captions: list[str]
    alt_captions: list[list[str]]
    heldout: np.ndarray  # (N,) bool

    def subset(self, heldout: bool) -> EmojiData:
        idx = np.nonzero(self.heldout == heldout)[0]
        return EmojiData(
            self.images[idx],
            [self.emoji[i] for i in idx],
            [self.captions[i] for i in idx],
            [self.alt_captions[i] for i in idx],
            self.heldout[idx],
        )

    def __len__(self) -> int:
        return len(self.captions)

    def random_caption(self, i: int, rng: random.Random, alt_prob: float = 0.25) -> str:
        """The main caption, or with `alt_prob` one of the alternatives (Unicode name, aliases)."""
        if self.alt_captions[i] and rng.random() < alt_prob:
            return rng.choice(self.alt_captions[i])
        return self.captions[i]


def is_heldout(emoji: str) -> bool:
    """Deterministic ~5% split by a hash of the emoji string."""
    return int(hashlib.sha1(emoji.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def _is_flag(emoji: str) -> bool:
    points = [ord(c) for c in emoji]
    return all(p in _REGIONAL for p in points) or (points[0] == 0x1F3F4 and len(points) > 2)


def caption_from_name(name: str, emoji: str = "") -> str:
    """`:woman_technologist_medium_skin_tone:` -> "woman technologist, medium skin tone"; flags -> "flag of X"."""
    body = name.strip(":")
    tones = re.findall(_TONES, body)
    body = re.sub(rf"_?{_TONES}", "", body).strip("_")
    text = re.sub(r"\s+", " ", body.replace("_", " ")).strip()
    if emoji and _is_flag(emoji) and not text.lower().startswith("flag"):
        text = f"flag of {text}"
    return ", ".join([text] + [t.replace("_", " ") for t in tones])


def alternative_captions(emoji: str, data: dict) -> list[str]:
    """Unicode character names (single code point) and the emoji package's aliases."""
    alts = []
    points = [c for c in emoji if c not in "\ufe0f\u200d"]
    if len(points) == 1:
        name = unicodedata.name(points[0], "")
        if name:
            alts.append(name.lower())
    for alias in data.get("alias", []):
        alts.append(caption_from_name(alias, emoji))
    main = caption_from_name(data["en"], emoji)
    unique: dict[str, str] = {}
    for a in alts:
        if a and a.lower() != main.lower():
            unique.setdefault(a.lower(), a)
    return list(unique.values())


def without_other_names(captions: list[str], alts: list[list[str]]) -> list[list[str]]:
    """Drop alternative captions that are another emoji's main caption.

    The package's aliases reuse names: 😎 has the alias "sunglasses", the name of 🕶️, and 😁 the
    alias "grinning face with smiling eyes", the name of 😄. A name should mean one picture.
    """
    names = {c.lower() for c in captions}
    return [[a for a in row if a.lower() not in names] for row in alts]


def load_font(path: Path = FONT_PATH) -> ImageFont.FreeTypeFont:
    if not features.check("raqm"):
        raise RuntimeError("Pillow lacks raqm: ZWJ sequences, flags and skin tones would not render as one glyph")
    return ImageFont.truetype(str(path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)


def render(emoji: str, font: ImageFont.FreeTypeFont, size: int = 64) -> np.ndarray | None:
    """One glyph on white at `size`, or None when it is tofu/empty or lays out as several glyphs."""
    single = font.getlength("\U0001f600")
    if font.getlength(emoji) > single * 1.2:
        return None
    side = int(round(single))
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, (side - 128) // 2), emoji, font=font, embedded_color=True)
    alpha = np.asarray(canvas)[..., 3]
    if alpha.max() == 0 or (alpha > 0).mean() < 0.02:
        return None
    canvas = canvas.resize((size, size), Image.LANCZOS)
    white = Image.new("RGBA", canvas.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, canvas).convert("RGB"))


def candidate_emoji() -> dict[str, dict]:
    """Fully-qualified emoji of the `emoji` package, in a stable order."""
    import emoji as emoji_pkg

    return {e: d for e, d in emoji_pkg.EMOJI_DATA.items() if d["status"] == emoji_pkg.STATUS["fully_qualified"]}


def build(
    out: Path = DEFAULT_PATH, size: int = 64, font_path: Path = FONT_PATH, only: list[str] | None = None
) -> EmojiData:
    """Render every candidate emoji, drop the ones the font cannot draw as one glyph, save the npz.

    Some emoji share one glyph (Noto draws France, St. Martin and Clipperton Island with the same
    flag; snowboarder has no skin tones). Each keeps its own row, so every name is learnt, and
    the rows of one glyph share the held-out decision of its first emoji, so a held-out image is
    never also a training image.
    """
    font = load_font(font_path)
    table = candidate_emoji()
    chosen = only if only is not None else list(table)
    images, emojis, captions, alts, heldout = [], [], [], [], []
    first_of_glyph: dict[bytes, str] = {}
    for e in chosen:
        img = render(e, font, size)
        if img is None:
            continue
        first = first_of_glyph.setdefault(hashlib.sha1(img.tobytes()).digest(), e)
        images.append(img)
        emojis.append(e)
        captions.append(caption_from_name(table[e]["en"], e))
        alts.append(alternative_captions(e, table[e]))
        heldout.append(is_heldout(first))
    alts = without_other_names(captions, alts)
    data = EmojiData(np.stack(images), emojis, captions, alts, np.array(heldout, dtype=bool))
    save(data, out)
    return data


def save(data: EmojiData, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(
        tmp,
        images=data.images,
        emoji=np.array(data.emoji),
        captions=np.array(data.captions),
        alt_captions=np.array(["|".join(a) for a in data.alt_captions]),
        heldout=data.heldout,
    )
    tmp.replace(path)


def load(path: Path = DEFAULT_PATH) -> EmojiData:
    with np.load(path) as z:
        return EmojiData(
            z["images"],
            [str(s) for s in z["emoji"]],
            [str(s) for s in z["captions"]],
            [str(s).split("|") if str(s) else [] for s in z["alt_captions"]],
            z["heldout"].astype(bool),
        )


def load_or_build(path: Path = DEFAULT_PATH) -> EmojiData:
    return load(path) if Path(path).exists() else build(path)
