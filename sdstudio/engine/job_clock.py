"""How long a job will take on this device, and a warning before one that will run very long.

The estimate comes from the job itself: after each step, the time spent so far per finished step
times the steps still to run (all images of the batch). That includes prompt encoding and each
image's decode, spread over the steps, so it errs on the long side. Before the first step there
is an estimate only when this engine has already timed the same model: step time grows at least
in proportion to the latent's pixel count (convolutions; attention grows faster), so a rate
measured at one size gives a lower bound at another. The 4096x4096 maximum on a CPU is the case
this exists for: minutes per step, where a person should hear "about 3 h" before waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.requests import GenerationRequest, StepEvent

LONG_JOB_SECONDS = 600.0  # "very long": past ten minutes a person wants to know before waiting

StepListener = Callable[[StepEvent], None]


def duration_text(seconds: float) -> str:
    """Seconds as a person says them: '45 s', '12 min', '3 h 20 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class StepRates:
    """Seconds per step per latent pixel, measured per model on this engine's device."""

    rates: dict[str, float] = field(default_factory=dict)

    def estimate(self, model_key: str, latent_pixels: int, steps: int) -> float | None:
        rate = self.rates.get(model_key)
        return None if rate is None else rate * latent_pixels * steps

    def record(self, model_key: str, latent_pixels: int, seconds_per_step: float) -> None:
        self.rates[model_key] = seconds_per_step / max(1, latent_pixels)


@dataclass
class JobClock:
    """Adds `remaining` (and once, `warning`) to a job's step events. One clock per job."""

    images: int  # the batch count
    steps: int  # per image, as requested (hires fix adds its second pass to the events' totals)
    latent_pixels: int
    device: str
    model_key: str
    rates: StepRates
    long_after: float = LONG_JOB_SECONDS
    started: float = field(default_factory=time.perf_counter)
    warned: bool = False
    _last: tuple[int, float] | None = None  # (steps done, elapsed) at the previous event
    _fastest: float | None = None  # the shortest step seen: the rate remembered for the next job

    @classmethod
    def for_job(
        cls, request: GenerationRequest, model: LoadedModel, device: str, rates: StepRates, long_after: float
    ) -> JobClock:
        f = model.vae_scale_factor
        pixels = (request.width // f) * (request.height // f)
        key = f"{model.source or model.name}@{device}"
        return cls(request.batch_count, request.steps, pixels, device, key, rates, long_after)

    def watch(self, listener: StepListener | None) -> StepListener | None:
        """The listener, receiving events with the estimate filled in; first a step-0 warning when
        this model's measured rate already says the job will run long."""
        if listener is None:
            return None
        total = self.rates.estimate(self.model_key, self.latent_pixels, self.steps * self.images)
        if total is not None and total > self.long_after:
            self.warned = True
            elapsed = time.perf_counter() - self.started
            warning = self._warning(total, "at least ")
            listener(StepEvent(0, 0, self.steps, elapsed, remaining=total, warning=warning))

        def on_step(event: StepEvent) -> None:
            listener(self.annotate(event))

        return on_step

    def annotate(self, event: StepEvent) -> StepEvent:
        done = event.image_index * event.total_steps + event.step
        if done <= 0:
            return event
        self._remember_step_time(done, event.elapsed)
        remaining = event.elapsed / done * (self.images * event.total_steps - done)
        warning = ""
        if not self.warned and event.elapsed + remaining > self.long_after:
            self.warned = True
            warning = self._warning(event.elapsed + remaining, "about ")
        return replace(event, remaining=remaining, warning=warning)

    def _remember_step_time(self, done: int, elapsed: float) -> None:
        """The shortest step-to-step time is pure sampling (no prompt encoding, no decode)."""
        if self._last is not None and done == self._last[0] + 1:
            step = elapsed - self._last[1]
            if self._fastest is None or step < self._fastest:
                self._fastest = step
                self.rates.record(self.model_key, self.latent_pixels, step)
        self._last = (done, elapsed)

    def _warning(self, total: float, qualifier: str) -> str:
        return (
            f"this job will take {qualifier}{duration_text(total)} on {self.device}; "
            "a smaller size or fewer steps is much faster (cancel stops it at once)"
        )
