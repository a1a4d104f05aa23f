"""Cold start and quit of the real app, each in a fresh process (offscreen), timed from outside.

    .venv/bin/python benchmarks/cold_start.py [--runs 3] [--model checkpoints/sdstudio-emoji]

After one warm-up launch, prints per run and as medians: launch -> first paint of the window (wall seconds, and the GUI
thread's CPU seconds, which a busy machine does not inflate as much), whether torch or diffusers
were imported by then, launch -> model ready, and close -> process gone when idle and during a
generation. The targets (issue 12): window within 1.5 s, quit within 1 s idle and 2 s generating.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui.app_driver import first, launch  # noqa: E402

BUILTIN = ROOT / "checkpoints" / "sdstudio-emoji"


def environment(scratch: Path, model: Path) -> dict[str, str]:
    config = scratch / "config"
    config.mkdir(parents=True, exist_ok=True)
    settings = {"model": str(model), "model_paths": [str(model)], "steps": 400, "width": 64, "height": 64,
                "size_follows_model": False, "seed_locked": True}
    (config / "settings.json").write_text(json.dumps(settings))
    # PYTHONDONTWRITEBYTECODE (set in some sandboxes) would recompile every module at each launch,
    # which an installed app never does: the warm-up run writes the .pyc files once.
    return {"QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"), "SDSTUDIO_CONFIG_DIR": str(config),
            "SDSTUDIO_OUTPUT_DIR": str(scratch / "outputs"), "SDSTUDIO_MODEL_DIRS": "", "HF_HUB_OFFLINE": "1",
            "PYTHONDONTWRITEBYTECODE": ""}


def cold_start(env: dict[str, str]) -> dict[str, float | bool]:
    events, started, _, code = launch("cold-start", env)
    painted, ready = first(events, "first-paint"), first(events, "model-ready")
    if code != 0 or painted is None or ready is None:
        raise SystemExit(f"cold-start run failed: {events}")
    loading = [e["text"] for e in events if e["event"] == "status" and e["text"].startswith("Loading model")]
    return {"first_paint_s": painted["t"] - started, "gui_cpu_s": painted["gui_cpu"],
            "torch_before_paint": painted["torch_imported"] or painted["diffusers_imported"],
            "model_ready_s": ready["t"] - started, "loading_messages": len(loading)}


def quit_after(scenario: str, env: dict[str, str]) -> float:
    events, _, ended, code = launch(scenario, env)
    closed = first(events, "close")
    if code != 0 or closed is None:
        raise SystemExit(f"{scenario} run failed: {events}")
    return ended - closed["t"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, default=BUILTIN)
    args = parser.parse_args(argv)
    if not args.model.exists():
        raise SystemExit(f"no model at {args.model} (pass --model)")
    with tempfile.TemporaryDirectory(prefix="sdstudio-cold-") as scratch:
        launch("first-paint", environment(Path(scratch), args.model))  # warm-up: .pyc files, disk cache
    rows = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="sdstudio-cold-") as scratch:
            env = environment(Path(scratch), args.model)
            row = cold_start(env)
            row["quit_idle_s"] = quit_after("quit-idle", env)
            row["quit_generating_s"] = quit_after("quit-generating", env)
        rows.append(row)
        print(f"run {run + 1}: first paint {row['first_paint_s']:.2f} s (GUI CPU {row['gui_cpu_s']:.2f} s, "
              f"torch imported before it: {row['torch_before_paint']}), model ready {row['model_ready_s']:.1f} s "
              f"({row['loading_messages']} loading messages), quit idle {row['quit_idle_s']:.2f} s, "
              f"quit generating {row['quit_generating_s']:.2f} s", flush=True)
    print(f"median over {len(rows)} runs on {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}:")
    for key, target in (("first_paint_s", 1.5), ("gui_cpu_s", None), ("model_ready_s", None),
                        ("quit_idle_s", 1.0), ("quit_generating_s", 2.0)):
        value = statistics.median(float(row[key]) for row in rows)
        goal = f" (target {target} s: {'met' if value <= target else 'MISSED'})" if target else ""
        print(f"  {key:18s} {value:7.2f}{goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
