"""A `GenerationRequest` as a ComfyUI API-format workflow graph, from core nodes only.

API format: `{node_id: {"class_type": ..., "inputs": {...}}}`, a link being `[node_id, output]`.
txt2img: CheckpointLoaderSimple -> CLIPTextEncode x2 -> EmptyLatentImage -> KSampler -> VAEDecode.
img2img: LoadImage (an uploaded input) -> VAEEncode, KSampler denoise = strength.
hires fix: the first pass upscaled (LatentUpscale, or VAEDecode -> ImageScale lanczos -> VAEEncode),
then a second KSampler at the hires denoise.
inpaint: a normal model gets SetLatentNoiseMask (ComfyUI re-noises the kept region every step);
a 9-channel inpainting model gets InpaintModelConditioning (mask and masked image as conditioning).
LoRAs: one LoraLoader per `<lora:...>` tag, chained after the checkpoint; a VAE other than the
checkpoint's: VAELoader; prompts: see prompt_translation (BREAK chunks joined by ConditioningConcat).
One graph makes one image: a batch is one graph per seed, so that each image has its own seed
(seed, seed+1, ...) as in our engine and in its metadata, and can run on any server.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sdstudio.bridge.comfy.prompt_translation import ComfyPrompt, PassTiming, find_lora, translate_prompt
from sdstudio.bridge.comfy.samplers import ComfySampler
from sdstudio.bridge.comfy.server_info import ServerInfo, file_name, file_stem
from sdstudio.engine.requests import GenerationRequest, Mode, Upscaler, hires_size
from sdstudio.errors import InputError

Link = list[Any]  # [node_id, output_index]
OUTPUT_NODE = "PreviewImage"  # core; writes to the server's temp folder, which it empties on start


@dataclass(frozen=True)
class Uploads:
    """The server's names of the images uploaded for this request (see ComfyClient.upload_image)."""

    image: str | None = None
    mask: str | None = None  # a greyscale PNG, white = repaint, read through its red channel


class Graph:
    """Builds an API-format graph; node ids are "1", "2", ... in the order nodes are added."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def add(self, class_type: str, **inputs: Any) -> str:
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id


def is_inpainting_checkpoint(name: str) -> bool:
    """A 9-channel model, by the naming convention every inpainting checkpoint follows."""
    return "inpaint" in name.lower()


@dataclass(frozen=True)
class ServerFiles:
    """A request's prompts, LoRAs and VAE in one server's terms (its file names)."""

    prompt: ComfyPrompt
    negative: ComfyPrompt
    loras: tuple[tuple[str, float, float], ...] = ()  # (file, strength_clip, strength_model)
    vae: str = ""  # "" = the checkpoint's own
    hires_prompt: ComfyPrompt | None = None  # A1111's hires prompts (None: the prompts above)
    hires_negative: ComfyPrompt | None = None
    hires_loras: tuple[tuple[str, float, float], ...] = ()


def find_vae(name: str, vaes: tuple[str, ...], server: str) -> str:
    """The server's VAE file for a VAE name or path of ours, by file name (with or without extension)."""
    wanted = file_name(name)
    for candidate in vaes:
        if wanted in (candidate, file_name(candidate), file_stem(candidate)):
            return candidate
    listed = ", ".join(vaes) if vaes else "none: its models/vae folder is empty"
    raise InputError(f"VAE '{wanted}' is not on the ComfyUI server at {server} (it has: {listed})")


def server_files(request: GenerationRequest, info: ServerInfo, server: str) -> ServerFiles:
    """What `request` names, found on this server; InputError (before anything runs) for what is missing."""
    prompt = translate_prompt(request.prompt, info.embeddings)
    negative = translate_prompt(request.negative_prompt, info.embeddings)
    # the negative prompt's tags are cut out but not applied, as in A1111 (and our engine)
    loras = _server_loras(prompt, info, server)
    vae = find_vae(request.vae, info.vaes, server) if request.vae else ""
    files = ServerFiles(prompt, negative, loras, vae)
    if request.hires is None or request.hires.prompts(request) == (request.prompt, request.negative_prompt):
        return files
    hires_prompt, hires_negative = (translate_prompt(text, info.embeddings) for text in request.hires.prompts(request))
    return replace(files, hires_prompt=hires_prompt, hires_negative=hires_negative,
                   hires_loras=_server_loras(hires_prompt, info, server))


def _server_loras(prompt: ComfyPrompt, info: ServerInfo, server: str) -> tuple[tuple[str, float, float], ...]:
    loras = tuple((find_lora(tag.name, info.loras, server), tag.te_weight, tag.unet_weight) for tag in prompt.loras)
    if len({file for file, _, _ in loras}) < len(loras):
        raise InputError("the same LoRA is named twice in the prompt; give it once with one weight")
    return loras


def _model_chain(graph: Graph, loader: str, loras: tuple[tuple[str, float, float], ...], clip_skip: int
                 ) -> tuple[Link, Link]:
    """The checkpoint's model and CLIP through a LoraLoader per LoRA, then CLIPSetLastLayer for clip skip."""
    model, clip = [loader, 0], [loader, 1]
    for lora, strength_clip, strength_model in loras:
        node = graph.add("LoraLoader", model=model, clip=clip, lora_name=lora, strength_model=strength_model,
                         strength_clip=strength_clip)
        model, clip = [node, 0], [node, 1]
    if clip_skip > 1:
        clip = [graph.add("CLIPSetLastLayer", clip=clip, stop_at_clip_layer=-clip_skip), 0]
    return model, clip


class _Encoder:
    """Conditioning nodes for the prompts of each sampler pass, each distinct text encoded once."""

    def __init__(self, graph: Graph, clip: Link) -> None:
        self.graph, self.clip = graph, clip
        self._encoded: dict[tuple[str, ...], Link] = {}

    def chunks(self, chunks: tuple[str, ...]) -> Link:
        """One CLIPTextEncode per BREAK chunk, joined in order by ConditioningConcat."""
        if chunks not in self._encoded:
            encoded = [[self.graph.add("CLIPTextEncode", text=chunk, clip=self.clip), 0] for chunk in chunks]
            joined = encoded[0]
            for chunk in encoded[1:]:
                joined = [self.graph.add("ConditioningConcat", conditioning_to=joined, conditioning_from=chunk), 0]
            self._encoded[chunks] = joined
        return self._encoded[chunks]

    def prompt(self, prompt: ComfyPrompt, timing: PassTiming) -> Link:
        """The prompt over one pass: each stretch of its schedule in its timestep range, combined."""
        parts = []
        for timed in prompt.timed(timing):
            part = self.chunks(timed.chunks)
            if (timed.start, timed.end) != (0.0, 1.0):
                part = [self.graph.add("ConditioningSetTimestepRange", conditioning=part, start=timed.start,
                                       end=timed.end), 0]
            parts.append(part)
        joined = parts[0]
        for part in parts[1:]:
            joined = [self.graph.add("ConditioningCombine", conditioning_1=joined, conditioning_2=part), 0]
        return joined


def generation_graph(request: GenerationRequest, checkpoint: str, sampler: ComfySampler, uploads: Uploads,
                     inpaint_conditioning: bool = False, files: ServerFiles | None = None) -> dict[str, dict[str, Any]]:
    """The graph of one image of `request` (its own seed), with a PreviewImage as the output.

    `inpaint_conditioning`: use InpaintModelConditioning (for 9-channel models, where the server has it).
    `files`: the request's LoRAs, VAE and prompts on the server (server_files); by default the
    prompts translated for a server without embeddings, and no LoRA or VAE."""
    if files is None:
        files = server_files(request, ServerInfo((), (), (), frozenset()), "the server")
    graph = Graph()
    loader = graph.add("CheckpointLoaderSimple", ckpt_name=checkpoint)
    vae: Link = [loader, 2]
    model, clip = _model_chain(graph, loader, files.loras, request.clip_skip)
    if files.vae:
        vae = [graph.add("VAELoader", vae_name=files.vae), 0]
    encoder = _Encoder(graph, clip)
    denoise = 1.0 if request.mode is Mode.TXT2IMG else float(request.strength)
    first_pass = PassTiming(request.steps, denoise, img2img=request.mode is not Mode.TXT2IMG)
    positive = encoder.prompt(files.prompt, first_pass)
    negative = encoder.prompt(files.negative, first_pass)
    if request.mode is Mode.TXT2IMG:
        latent = [graph.add("EmptyLatentImage", width=request.width, height=request.height, batch_size=1), 0]
    else:
        if uploads.image is None:
            raise InputError("the input image was not uploaded to the server")
        pixels = [graph.add("LoadImage", image=uploads.image), 0]
        if request.mode is Mode.INPAINT:
            if uploads.mask is None:
                raise InputError("the mask was not uploaded to the server")
            mask = [graph.add("LoadImageMask", image=uploads.mask, channel="red"), 0]
            if inpaint_conditioning:
                conditioned = graph.add("InpaintModelConditioning", positive=positive, negative=negative, vae=vae,
                                        pixels=pixels, mask=mask)
                positive, negative, latent = [conditioned, 0], [conditioned, 1], [conditioned, 2]
            else:
                encoded = [graph.add("VAEEncode", pixels=pixels, vae=vae), 0]
                latent = [graph.add("SetLatentNoiseMask", samples=encoded, mask=mask), 0]
        else:
            latent = [graph.add("VAEEncode", pixels=pixels, vae=vae), 0]
    settings = dict(model=model, positive=positive, negative=negative, seed=request.seed, cfg=float(request.cfg_scale),
                    sampler_name=sampler.sampler_name, scheduler=sampler.scheduler)
    sampled = [graph.add("KSampler", latent_image=latent, steps=request.steps, denoise=denoise, **settings), 0]
    if request.hires is not None and request.mode is Mode.TXT2IMG:
        if files.hires_prompt is not None and files.hires_loras != files.loras:  # its own LoRAs: its own chain
            hires_model, hires_clip = _model_chain(graph, loader, files.hires_loras, request.clip_skip)
            settings, encoder = dict(settings, model=hires_model), _Encoder(graph, hires_clip)
        sampled = _hires_pass(graph, request, sampled, vae, settings, encoder, files)
    decoded = graph.add("VAEDecode", samples=sampled, vae=vae)
    graph.add(OUTPUT_NODE, images=[decoded, 0])
    return graph.nodes


def _hires_pass(graph: Graph, request: GenerationRequest, latent: Link, vae: Link, settings: dict[str, Any],
                encoder: _Encoder, files: ServerFiles) -> Link:
    """A1111's hires fix from core nodes: upscale the first pass to the hires size (in latent space,
    bicubic; or decoded, Lanczos, encoded again), then a second KSampler at the hires denoise, its
    prompts on the second pass's schedule."""
    hires = request.hires
    assert hires is not None
    width, height = hires_size(request.width, request.height, hires.scale)
    if hires.upscaler is Upscaler.LANCZOS:
        pixels = [graph.add("VAEDecode", samples=latent, vae=vae), 0]
        scaled = [graph.add("ImageScale", image=pixels, upscale_method="lanczos", width=width, height=height,
                            crop="disabled"), 0]
        upscaled = [graph.add("VAEEncode", pixels=scaled, vae=vae), 0]
    else:
        upscaled = [graph.add("LatentUpscale", samples=latent, upscale_method="bicubic", width=width, height=height,
                              crop="disabled"), 0]
    steps = hires.steps or request.steps
    second_pass = PassTiming(steps, float(hires.denoise), first_pass_steps=request.steps)
    prompt, negative = files.hires_prompt or files.prompt, files.hires_negative or files.negative
    settings = dict(settings, positive=encoder.prompt(prompt, second_pass),
                    negative=encoder.prompt(negative, second_pass))
    return [graph.add("KSampler", latent_image=upscaled, steps=steps, denoise=float(hires.denoise), **settings), 0]


def sampler_steps(graph: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Each KSampler's (steps before it, its steps), in graph order: progress over both hires passes
    as one rising run of steps, as our engine reports it."""
    offsets: dict[str, tuple[int, int]] = {}
    done = 0
    for node_id, node in graph.items():
        if node["class_type"] == "KSampler":
            offsets[node_id] = (done, int(node["inputs"]["steps"]))
            done += int(node["inputs"]["steps"])
    return offsets
