"""benchmarks/gpu_check.py runs end to end (as a CPU dry run), so it works the day a GPU is at hand."""

import json
import math
import os
import subprocess
import sys

import pytest

from sdstudio import PROJECT_ROOT


def numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.mark.slow
def test_gpu_check_dry_run_reports_every_check(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--out", str(out)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] and [f["family"] for f in report["families"]] == ["sd15", "sdxl"]
    assert all(math.isfinite(n) for n in numbers(report))
    for family in report["families"]:
        assert family["versus_cpu_fp32"]["max"] <= 1 and family["versus_cpu_fp32"]["image_ok"]
        assert [row["size"] for row in family["speed"]] == [64, 128]
        assert all(row["max_pixel_difference"] <= 1 and row["ours_it_s"] > 0 for row in family["speed"])
    sd15, sdxl = report["families"]
    options = [row["option"] for row in sd15["speed_options"] if "error" not in row]
    assert options == ["SDPA attention (default)", "classic attention", "channels_last UNet",
                       "torch.compile UNet (eager)"]
    assert sdxl["fp16_vae_trap"]["engine_image_ok"] and sdxl["fp16_vae_trap"]["engine_vae_dtype"] == "float32"
