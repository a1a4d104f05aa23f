"""A job that will run very long says so on stderr, once, before the wait (scripts' logs too)."""

from sdstudio.cli import main
from sdstudio.engine.engine import Engine


def test_a_very_long_job_is_announced_once_on_stderr(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Engine, "long_job_seconds", 0.0)  # every job counts as very long
    out = tmp_path / "cat.png"
    assert main(["generate", "cat", "--model", str(tiny_model_dir), "--steps", "3", "--width", "64", "--height",
                 "64", "--seed", "1", "--batch", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("sdstudio: warning: ")]
    assert len(warnings) == 1 and "this job will take about" in warnings[0] and " on cpu " in warnings[0]
    assert captured.out.split() == [str(tmp_path / "cat-1.png"), str(tmp_path / "cat-2.png")]


def test_an_ordinary_job_prints_no_warning(tiny_model_dir, tmp_path, capsys):
    assert main(["generate", "cat", "--model", str(tiny_model_dir), "--steps", "2", "--width", "64", "--height",
                 "64", "--seed", "1", "--out", str(tmp_path / "cat.png")]) == 0
    assert "warning" not in capsys.readouterr().err
