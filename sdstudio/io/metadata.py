"""Generation parameters as text: AUTOMATIC1111's `parameters` format (write and read), and
ComfyUI's `prompt`/`workflow` graphs (read), mapped to and from `GenerationRequest`.

A1111's format, which most tools read and write:

    a red apple, still life            <- prompt (may span lines)
    Negative prompt: blurry            <- optional, may span lines
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: name, ...

Values containing `,`, `:` or a newline are written as JSON strings, as A1111 does.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from sdstudio import __version__
from sdstudio.engine.requests import GenerationRequest, HiresFix, Mode, Upscaler, canonical_sampler
from sdstudio.errors import InputError
from sdstudio.io.resources import (
    Have,
    Missing,
    installed_here,
    missing_resources,
    network_settings,
    parse_hash_list,
    vae_name,
    vae_settings,
)

NEGATIVE_PREFIX = "Negative prompt:"
# One `Key: value` pair of the settings line; a value is a JSON string or runs to the next comma.
# Keys are bounded (A1111's are < 40 characters) and no match starts on whitespace, so a hostile
# 40,000-character line is read in linear time (an unbounded lazy key took 100 s: quadratic).
SETTING = re.compile(r'([\w][\w \-/+.()]{0,63}?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_MASK_BLUR = 1024
COMFY_SAMPLERS = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "lms": "LMS", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE", "ddim": "DDIM", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "lcm": "LCM",
}


def _number(value: float) -> str:
    """7.0 -> '7', 6.5 -> '6.5' (how A1111 prints slider values)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def quote(value: str) -> str:
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text and '"' not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def clean_text(text: str) -> str:
    """`text` with lone surrogates (from JSON escapes like "\\ud800") as U+FFFD, so it can be written."""
    return LONE_SURROGATE.sub("\ufffd", text)


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return clean_text(str(json.loads(value)))
        except (ValueError, RecursionError):
            return value[1:-1]
    return value


def format_parameters(request: GenerationRequest, model_name: str) -> str:
    """The A1111 `parameters` text of one generated image."""
    settings: dict[str, Any] = {
        "Steps": request.steps,
        "Sampler": request.sampler,
        "CFG scale": _number(float(request.cfg_scale)),
        "Seed": request.seed,
        "Size": f"{request.width}x{request.height}",
        "Model": model_name,
        **vae_settings(request),
    }
    if request.mode is not Mode.TXT2IMG:
        settings["Denoising strength"] = _number(float(request.strength))
    if request.mode is Mode.INPAINT:
        settings["Mask blur"] = request.mask_feather
    settings.update(_hires_and_network_settings(request))
    settings["Version"] = f"sdstudio {__version__}"
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(", ".join(f"{key}: {quote(str(value))}" for key, value in settings.items()))
    return "\n".join(lines)


UPSCALER_WORDS = {Upscaler.LATENT: "Latent (bicubic)", Upscaler.LANCZOS: "Lanczos"}  # A1111's names for ours


def _hires_and_network_settings(request: GenerationRequest) -> dict[str, Any]:
    """Clip skip, hires fix, Lora hashes and TI hashes, in the order and words A1111 writes them."""
    settings: dict[str, Any] = {}
    hires = request.hires if request.mode is Mode.TXT2IMG else None
    if hires is not None:
        settings["Denoising strength"] = _number(float(hires.denoise))
    if request.clip_skip > 1:
        settings["Clip skip"] = request.clip_skip
    if hires is not None:
        settings["Hires upscale"] = _number(float(hires.scale))
        if hires.steps:
            settings["Hires steps"] = hires.steps
        settings["Hires upscaler"] = UPSCALER_WORDS.get(Upscaler(hires.upscaler), str(hires.upscaler))
        prompt, negative = hires.prompts(request)
        if prompt != request.prompt:  # A1111 writes them only when they differ
            settings["Hires prompt"] = prompt
        if negative != request.negative_prompt:
            settings["Hires negative prompt"] = negative
    settings.update(network_settings(request))
    return settings


@dataclass(frozen=True)
class ParsedParameters:
    """What an image says about how it was made. Typed fields are None when not stated."""

    prompt: str
    negative_prompt: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    source: str = "a1111"  # or "comfyui"

    def _int(self, key: str) -> int | None:
        """An integer setting: exact for big seeds (no float detour), None for inf/nan/garbage."""
        text = str(self.settings.get(key, "")).strip()
        if re.fullmatch(r"[+-]?\d{1,40}", text):
            return int(text)
        number = self._float(key)
        return int(number) if number is not None else None

    def _float(self, key: str) -> float | None:
        """A finite float setting, or None (A1111 text like `Steps: inf` must not raise later)."""
        try:
            number = float(str(self.settings[key])[:100])
        except (KeyError, ValueError):
            return None
        return number if math.isfinite(number) else None

    @property
    def steps(self) -> int | None:
        return self._int("Steps")

    @property
    def cfg_scale(self) -> float | None:
        return self._float("CFG scale")

    @property
    def seed(self) -> int | None:
        return self._int("Seed")

    @property
    def strength(self) -> float | None:
        return self._float("Denoising strength")

    @property
    def model(self) -> str | None:
        return self.settings.get("Model")

    @property
    def size(self) -> tuple[int, int] | None:
        match = re.fullmatch(r"\s*(\d{1,9})\s*x\s*(\d{1,9})\s*", str(self.settings.get("Size", "")))
        return (int(match.group(1)), int(match.group(2))) if match else None

    @property
    def width(self) -> int | None:
        return self.size[0] if self.size else None

    @property
    def height(self) -> int | None:
        return self.size[1] if self.size else None

    @property
    def sampler(self) -> str | None:
        """Our sampler name if we have it (A1111 >= 1.9 splits 'DPM++ 2M' + 'Schedule type: Karras')."""
        name = self.settings.get("Sampler")
        if not name:
            return None
        schedule = self.settings.get("Schedule type", "")
        candidates = [f"{name} {schedule}".strip(), name] if schedule.lower() == "karras" else [name]
        for candidate in candidates:
            try:
                return canonical_sampler(candidate)
            except InputError:
                continue
        return name

    @property
    def clip_skip(self) -> int | None:
        return self._int("Clip skip")

    @property
    def vae(self) -> str | None:
        """The VAE's name to look up (A1111 writes its file name, suffix included)."""
        stated = str(self.settings.get("VAE", "")).strip()
        return vae_name(stated) if stated and stated.lower() not in ("none", "automatic") else None

    @property
    def hires(self) -> HiresFix | None:
        """Hires fix from `Hires upscale` (or `Hires resize: WxH`), `Hires steps`, `Hires upscaler` and
        `Denoising strength` (A1111's default 0.7 when absent); an upscaler we lack becomes Lanczos."""
        scale = self._float("Hires upscale")
        resize = re.fullmatch(r"\s*(\d{1,9})\s*x\s*(\d{1,9})\s*", str(self.settings.get("Hires resize", "")))
        if scale is None and resize and self.width:
            scale = int(resize.group(1)) / self.width
        if scale is None:
            return None
        word = str(self.settings.get("Hires upscaler", "")).strip().lower()
        upscaler = Upscaler.LATENT if word.startswith("latent") else Upscaler.LANCZOS
        denoise = self._float("Denoising strength")
        prompt, negative = (str(self.settings.get(key, "")) for key in ("Hires prompt", "Hires negative prompt"))
        return HiresFix(scale=scale, steps=self._int("Hires steps") or 0,
                        denoise=0.7 if denoise is None else denoise, upscaler=upscaler,
                        prompt="" if prompt == self.prompt else prompt,
                        negative_prompt="" if negative == self.negative_prompt else negative)

    @property
    def lora_hashes(self) -> dict[str, str]:
        return parse_hash_list(str(self.settings.get("Lora hashes", "")))

    @property
    def embedding_hashes(self) -> dict[str, str]:
        return parse_hash_list(str(self.settings.get("TI hashes", "")))

    @property
    def missing(self) -> list[Missing]:
        """The LoRAs, embeddings, VAE (and hires upscaler) this image names that are not installed."""
        return self.missing_from(installed_here)

    def missing_from(self, have: Have) -> list[Missing]:
        """What this image names that `have` (kind, name) says is not there: a server's files, say."""
        settings = {key: str(value) for key, value in self.settings.items()}
        return missing_resources(self.prompt, self.negative_prompt, settings, have)

    def apply_to(self, request: GenerationRequest) -> GenerationRequest:
        """`request` with every setting this image states (unknown samplers keep the request's)."""
        changes: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative_prompt}
        sampler = self.sampler
        if sampler:
            with suppress(InputError):
                changes["sampler"] = canonical_sampler(sampler)
        for _key, name, value in self._typed():
            if value is not None and _usable(name, value):
                changes[name] = value
        return replace(request, **changes)

    def _typed(self) -> list[tuple[str, str, Any]]:
        """(settings key, request field, value read or None) of the settings that map to a request."""
        return [("Steps", "steps", self.steps), ("CFG scale", "cfg_scale", self.cfg_scale),
                ("Seed", "seed", self.seed), ("Size", "width", self.width), ("Size", "height", self.height),
                ("Denoising strength", "strength", self.strength),
                ("Mask blur", "mask_feather", self._int("Mask blur")),
                ("Clip skip", "clip_skip", self.clip_skip), ("VAE", "vae", self.vae),
                ("Hires upscale", "hires", self.hires)]

    @property
    def unreadable(self) -> tuple[str, ...]:
        """Settings the image states but that cannot be used (`Steps: inf`, `Seed: -1`, `Size: big`):
        shown as unreadable, while the rest is restored."""
        keys = [key for key, name, value in self._typed()
                if key in self.settings and (value is None or not _usable(name, value))]
        return tuple(dict.fromkeys(keys))


def _usable(name: str, value: Any) -> bool:
    """Whether a stated value fits a request; foreign or hostile ones (Steps: 1e9) are not applied."""
    if name == "strength":
        return 0.0 < value <= 1.0
    if name == "mask_feather":
        return 0 <= value <= MAX_MASK_BLUR
    try:
        replace(GenerationRequest(""), **{name: value}).validated()
    except InputError:
        return False
    return True


def parse_settings_line(line: str) -> dict[str, str]:
    return {key.strip(): unquote(value) for key, value in SETTING.findall(line)}


def parse_parameters(text: str) -> ParsedParameters:
    """Read A1111-style parameters text (ours or anyone's)."""
    if not text or not text.strip():
        raise InputError("the image's parameters text is empty")
    lines = text.strip("\n").split("\n")
    settings: dict[str, str] = {}
    if len(SETTING.findall(lines[-1])) >= 3:
        settings = parse_settings_line(lines[-1])
        lines = lines[:-1]
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    return ParsedParameters("\n".join(prompt_lines).strip(), "\n".join(negative_lines).strip(), settings)


def parameters_to_text(parsed: ParsedParameters) -> str:
    """Parsed parameters back to A1111 text (how `sdstudio info` shows ComfyUI images too)."""
    lines = [parsed.prompt]
    if parsed.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {parsed.negative_prompt}")
    if parsed.settings:
        lines.append(", ".join(f"{key}: {quote(value)}" for key, value in parsed.settings.items()))
    return "\n".join(lines)


# --- ComfyUI ----------------------------------------------------------------------------------


def _comfy_sampler(name: str, scheduler: str) -> str:
    ours = COMFY_SAMPLERS.get(name, name)
    if scheduler == "karras" and ours in ("DPM++ 2M", "DPM++ 2M SDE"):
        ours += " Karras"
    return ours


def _comfy_settings(seed, steps, cfg, sampler, scheduler, denoise, size, model) -> dict[str, str]:
    settings: dict[str, str] = {}
    for key, value in (("Steps", steps), ("Sampler", _comfy_sampler(str(sampler), str(scheduler)) if sampler else None),
                       ("CFG scale", cfg), ("Seed", seed)):
        if value is not None:
            settings[key] = _number(value) if isinstance(value, float) else str(value)
    if size:
        settings["Size"] = f"{size[0]}x{size[1]}"
    if model:
        settings["Model"] = str(model).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    with suppress(TypeError, ValueError, OverflowError):  # a hostile graph's "denoise": "abc" is not stated
        if denoise is not None and float(denoise) < 1.0:
            settings["Denoising strength"] = _number(float(denoise))
    return settings


def _comfy_text(graph: dict[str, Any], link: Any, depth: int = 0) -> str:
    """Follow a [node_id, output] link to the text of a CLIPTextEncode (through simple nodes)."""
    if not isinstance(link, list) or not link or depth > 8:
        return ""
    node = graph.get(str(link[0]))
    if not isinstance(node, dict):
        return ""
    inputs = node.get("inputs", {})
    if isinstance(inputs.get("text"), str):
        return inputs["text"]
    if isinstance(inputs.get("text_g"), str):  # SDXL text encode node
        return inputs["text_g"]
    for key in ("conditioning", "conditioning_1", "positive", "text"):
        if key in inputs:
            found = _comfy_text(graph, inputs[key], depth + 1)
            if found:
                return found
    return ""


def _comfy_from_prompt(graph: dict[str, Any]) -> ParsedParameters | None:
    sampler = next((node for node in graph.values() if isinstance(node, dict)
                    and node.get("class_type") in ("KSampler", "KSamplerAdvanced")), None)
    if sampler is None:
        return None
    inputs = sampler.get("inputs", {})
    size = model = None
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        if node.get("class_type") == "EmptyLatentImage":
            size = (node["inputs"].get("width"), node["inputs"].get("height"))
        if node.get("class_type") in ("CheckpointLoaderSimple", "CheckpointLoader"):
            model = node["inputs"].get("ckpt_name")
    settings = _comfy_settings(inputs.get("seed", inputs.get("noise_seed")), inputs.get("steps"), inputs.get("cfg"),
                               inputs.get("sampler_name"), inputs.get("scheduler", ""), inputs.get("denoise"),
                               size, model)
    return ParsedParameters(_comfy_text(graph, inputs.get("positive")), _comfy_text(graph, inputs.get("negative")),
                            settings, "comfyui")


def _comfy_from_workflow(workflow: dict[str, Any]) -> ParsedParameters | None:
    nodes = {node.get("id"): node for node in workflow.get("nodes", []) if isinstance(node, dict)}
    links = {link[0]: link for link in workflow.get("links", []) if isinstance(link, list) and len(link) >= 5}
    sampler = next((n for n in nodes.values() if n.get("type") in ("KSampler", "KSamplerAdvanced")), None)
    if sampler is None:
        return None

    def text_of(input_name: str) -> str:
        for slot in sampler.get("inputs", []):
            if slot.get("name") == input_name and slot.get("link") in links:
                source = nodes.get(links[slot["link"]][1], {})
                values = source.get("widgets_values") or [""]
                return values[0] if isinstance(values[0], str) else ""
        return ""

    values = list(sampler.get("widgets_values", []))
    if sampler.get("type") == "KSamplerAdvanced":  # [add_noise, seed, control, steps, cfg, sampler, scheduler, ...]
        values = values[1:]
    values += [None] * (7 - len(values))
    seed, _control, steps, cfg, sampler_name, scheduler, denoise = values[:7]
    size = model = None
    for node in nodes.values():
        if node.get("type") == "EmptyLatentImage" and len(node.get("widgets_values", [])) >= 2:
            size = tuple(node["widgets_values"][:2])
        if node.get("type") in ("CheckpointLoaderSimple", "CheckpointLoader") and node.get("widgets_values"):
            model = node["widgets_values"][-1]
    settings = _comfy_settings(seed, steps, cfg, sampler_name, scheduler or "", denoise, size, model)
    return ParsedParameters(text_of("positive"), text_of("negative"), settings, "comfyui")


def parse_comfyui(prompt_json: str | None, workflow_json: str | None) -> ParsedParameters | None:
    """Prompt and settings from ComfyUI's PNG chunks (`prompt`: API graph; `workflow`: UI graph)."""
    for text, reader in ((prompt_json, _comfy_from_prompt), (workflow_json, _comfy_from_workflow)):
        if not text:
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: 100,000-deep JSON
            continue
        if isinstance(data, dict):
            try:
                parsed = reader(data)
            except (KeyError, TypeError, AttributeError, IndexError, ValueError, OverflowError, RecursionError):
                parsed = None  # a graph of the wrong shape or types: unreadable, never an error
            if parsed is not None:
                return replace(parsed, prompt=clean_text(str(parsed.prompt)),
                               negative_prompt=clean_text(str(parsed.negative_prompt)),
                               settings={key: clean_text(value) for key, value in parsed.settings.items()})
    return None
