"""Cheap latent -> RGB previews: a 4x3 linear map plus bias instead of a VAE decode.

The idea (used by ComfyUI and A1111's "Approx NN/cheap" previews): each latent channel is close
to a linear mix of RGB, so `rgb = latent^T @ factors + bias` gives a recognisable thumbnail in
microseconds. We apply it to the model's current estimate of the clean image (x0), which is far
more readable than the noisy latent itself.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

PreviewFactors = tuple  # (4x3 nested sequence, 3-sequence bias)


def latent_to_rgb(latent: torch.Tensor, factors: PreviewFactors) -> np.ndarray:
    """One latent (C, h, w) -> uint8 RGB (h, w, 3) through the linear preview map."""
    matrix = torch.tensor(factors[0], dtype=torch.float32)
    bias = torch.tensor(factors[1], dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), matrix) + bias
    return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).numpy()


def preview_image(latent: torch.Tensor, factors: PreviewFactors, size: tuple[int, int] | None = None) -> Image.Image:
    """A PIL preview of one latent, optionally scaled (bilinear) to the output size (w, h)."""
    image = Image.fromarray(latent_to_rgb(latent, factors), mode="RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return image


def predicted_x0(
    model_output: torch.Tensor, scaled_sample: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The model's estimate of the clean latent from its output at noise level alpha_bar (DDPM space).

    `scaled_sample` is the UNet's input (after scale_model_input), so this works for every
    scheduler: eps (Ho et al. 2020), v (Salimans & Ho 2022) or sample prediction.
    """
    alpha_bar = alpha_bar.to(model_output.dtype)
    if prediction_type == "epsilon":
        return (scaled_sample - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
    if prediction_type == "v_prediction":
        return alpha_bar.sqrt() * scaled_sample - (1 - alpha_bar).sqrt() * model_output
    return model_output
