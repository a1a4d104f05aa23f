"""Engine-thread handlers of the generation jobs: generate (each image saved as it is decoded) and load."""

from __future__ import annotations

from sdstudio.bridge.jobs import GenerateJob, LoadJob
from sdstudio.bridge.local.context import JobContext
from sdstudio.bridge.messages import JobResult, ModelLoaded


def generate(engine, job: GenerateJob, context: JobContext) -> JobResult:
    """A batch; every image goes to disk (and to the handle) the moment it is decoded, so a
    cancelled batch keeps the images it finished."""
    result = engine.generate(
        job.request, on_step=context.on_step, cancel=context.cancel, on_load=context.on_load, on_image=context.save
    )
    model = engine.model
    return JobResult(context.job_id, list(context.saved), result.elapsed, result.device, model.name)


def load(engine, job: LoadJob, context: JobContext) -> ModelLoaded:
    model = engine.load(job.model, on_load=context.on_load)
    return ModelLoaded(context.job_id, model.name, engine.device_name)
