"""What switching LoRAs between two jobs costs, next to the job itself (goal: <= 10 %, no checkpoint reload).

Writes two kohya-layout LoRAs (UNet and text-encoder parts, rank 8) that fit the model, then runs
jobs that alternate between them (`<lora:a:0.8>`, `<lora:b:0.8>`, ...) and jobs that repeat one,
prints the medians, the direct cost of switching (`Engine.conditioning` with the other LoRA: tags
resolved, adapters set, embeddings from the cache) as a share of a job, whole jobs after a switch
vs after the same LoRA (noisy on a shared machine: both do the same work), and the one-time cost
of the first use of each file (reading it and adding its adapter).
Usage: python benchmarks/lora_switch.py [--model NAME|PATH] [--steps 20] [--size 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from sdstudio.engine.engine import Engine
from sdstudio.engine.requests import GenerationRequest

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def write_lora(path: Path, model, seed: int, rank: int = 8) -> None:
    """A kohya-layout LoRA for every attention projection of the UNet and text encoder(s)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}

    def add(prefix: str, layer: torch.nn.Linear) -> None:
        layer = getattr(layer, "base_layer", layer)
        state[f"{prefix}.lora_down.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.05
        state[f"{prefix}.lora_up.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.05
        state[f"{prefix}.alpha"] = torch.tensor(float(rank))

    for name, layer in model.unet.named_modules():
        if name.endswith(UNET_TARGETS) and isinstance(layer, torch.nn.Linear):
            add("lora_unet_" + name.replace(".", "_"), layer)
    prefixes = ["lora_te_"] if len(model.text_encoders) == 1 else ["lora_te1_", "lora_te2_"]
    for prefix, encoder in zip(prefixes, model.text_encoders, strict=True):
        for name, layer in encoder.named_modules():
            if name.endswith(TE_TARGETS) and isinstance(layer, torch.nn.Linear):
                add(prefix + "text_model_" + name.removeprefix("text_model.").replace(".", "_"), layer)
    save_file(state, str(path))


def timed(action) -> tuple[float, float]:
    """(wall, CPU) seconds of one call: CPU time is less disturbed by other jobs on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lora-switch-"))
    os.environ["SDSTUDIO_LORA_DIRS"] = str(folder)
    engine = Engine()
    model = engine.load(args.model)
    write_lora(folder / "a.safetensors", model, seed=1)
    write_lora(folder / "b.safetensors", model, seed=2)
    unet = model.unet

    def job(prompt: str):
        request = GenerationRequest(prompt=prompt, steps=args.steps, width=args.size, height=args.size, sampler="Euler")
        return lambda: engine.generate(request)

    tag = {"a": "a photo of a cat <lora:a:0.8>", "b": "a photo of a cat <lora:b:0.8>"}
    plain = timed(job("a photo of a cat"))  # warm-up, and the job without a LoRA
    # each file read and its adapter added, once (plus its first text encoding)
    first = [timed(lambda: engine.conditioning(tag["a"], "")), timed(lambda: engine.conditioning(tag["b"], ""))]
    repeat, switch = [], []
    for _ in range(args.runs):
        repeat.append(timed(job(tag["b"])))  # the same LoRA as the job before
        switch.append(timed(job(tag["a"])))  # the other one
        timed(job(tag["a"]))
        switch.append(timed(job(tag["b"])))
    # What a job does differently when its LoRA differs: the conditioning step (tags resolved,
    # adapters set; the embeddings come from the cache), timed alone, many times.
    to_other, to_same = [], []
    for _ in range(10):
        to_other.append(timed(lambda: engine.conditioning(tag["a"], "")))
        to_same.append(timed(lambda: engine.conditioning(tag["a"], "")))
        to_other.append(timed(lambda: engine.conditioning(tag["b"], "")))
    assert engine.model.unet is unet, "the checkpoint was reloaded"

    job_wall, job_cpu = median(repeat)
    switch_wall, switch_cpu = median(switch)
    other_wall, other_cpu = median(to_other)
    same_wall, same_cpu = median(to_same)
    print(f"model {model.name}, {args.steps} Euler steps at {args.size}x{args.size}, {engine.device_name}")
    print(f"{'':34}{'wall s':>9}{'CPU s':>9}")
    print(f"{'job without LoRA (first job)':34}{plain[0]:9.3f}{plain[1]:9.3f}")
    print(f"{'job, same LoRA as the last job':34}{job_wall:9.3f}{job_cpu:9.3f}   median of {len(repeat)}")
    print(f"{'job, other LoRA than the last':34}{switch_wall:9.3f}{switch_cpu:9.3f}   median of {len(switch)}")
    print(f"{'switching to the other LoRA':34}{other_wall:9.4f}{other_cpu:9.4f}   median of {len(to_other)}")
    print(f"{'same LoRA again':34}{same_wall:9.4f}{same_cpu:9.4f}")
    print(
        f"switch cost: {100 * other_cpu / job_cpu:.2f} % of a job's CPU time "
        f"({100 * other_wall / job_wall:.2f} % wall; goal <= 10 %); whole jobs, other minus same: "
        f"{100 * (switch_cpu - job_cpu) / job_cpu:+.1f} % CPU"
    )
    print(
        f"first use of each file (read, adapter added, prompt encoded; once): "
        f"{first[0][0]:.2f} s, {first[1][0]:.2f} s wall"
    )
    print("checkpoint reloaded: no (the same UNet object throughout)")


if __name__ == "__main__":
    main()
