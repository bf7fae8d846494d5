"""The ADM (guided-diffusion) Gaussian diffusion schedule, respaced, as the ImageNet-E editor uses it.

ADM trains on 1000 steps of linear betas and samples on a *respaced* subset of them: the kept
timesteps are chosen like guided-diffusion's ``space_timesteps``, new betas are derived from the
cumulative alphas at the kept steps (so every kept step keeps its exact noise level), and the UNet is
fed the ORIGINAL timestep indices of the kept steps. All constants are float64 numpy, like the
original, and only converted to tensors at the point of use so fp16/bf16 runs share the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def linear_betas(num_train_steps: int = 1000) -> np.ndarray:
    """ADM's linear schedule, scaled so any step count spans the same noise range as 1000 steps."""
    if num_train_steps < 1:
        raise ValueError(f"num_train_steps must be >= 1, got {num_train_steps}")
    scale = 1000 / num_train_steps
    return np.linspace(scale * 0.0001, scale * 0.02, num_train_steps, dtype=np.float64)


def space_timesteps(num_timesteps: int, section_counts: int | str | list[int]) -> set[int]:
    """The training timesteps kept when sampling with fewer steps (guided-diffusion's rule).

    ``section_counts`` splits the schedule into equal sections, each with its own number of kept
    steps spread evenly (first and last step of a section included); ``"ddimN"`` asks for a
    constant stride giving exactly N steps.

    >>> sorted(space_timesteps(10, 3))
    [0, 4, 9]
    >>> sorted(space_timesteps(1000, "ddim50"))[:3]
    [0, 20, 40]
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim"):])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return set(range(0, num_timesteps, stride))
            raise ValueError(f"cannot create exactly {desired} steps with an integer stride from {num_timesteps}")
        section_counts = [int(x) for x in section_counts.split(",")]
    elif isinstance(section_counts, int):
        section_counts = [section_counts]
    size_per, extra = divmod(num_timesteps, len(section_counts))
    start = 0
    kept: list[int] = []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide a section of {size} steps into {count}")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        cursor = 0.0
        for _ in range(count):
            kept.append(start + round(cursor))
            cursor += stride
        start += size
    return set(kept)


@dataclass(frozen=True)
class RespacedSchedule:
    """Per-step constants of a respaced ADM diffusion (index ``i`` = respaced step, 0 = least noisy)."""

    num_train_steps: int
    respaced_steps: int
    timestep_map: np.ndarray = field(repr=False)  # respaced index -> original training timestep
    betas: np.ndarray = field(repr=False)
    alphas_cumprod: np.ndarray = field(repr=False)
    alphas_cumprod_prev: np.ndarray = field(repr=False)
    posterior_log_variance_clipped: np.ndarray = field(repr=False)
    posterior_mean_coef1: np.ndarray = field(repr=False)
    posterior_mean_coef2: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, num_train_steps: int = 1000, respaced_steps: int | str = 100) -> "RespacedSchedule":
        base_cumprod = np.cumprod(1.0 - linear_betas(num_train_steps))
        kept = space_timesteps(num_train_steps, respaced_steps)
        last = 1.0
        betas, timestep_map = [], []
        for t, acp in enumerate(base_cumprod):
            if t in kept:
                betas.append(1.0 - acp / last)
                last = acp
                timestep_map.append(t)
        b = np.asarray(betas, dtype=np.float64)
        acp = np.cumprod(1.0 - b)
        acp_prev = np.append(1.0, acp[:-1])
        posterior_variance = b * (1.0 - acp_prev) / (1.0 - acp)
        # The posterior variance is 0 at the first step; ADM clips the log by reusing step 1's value.
        post_log_var = np.log(np.append(posterior_variance[1], posterior_variance[1:])) if len(b) > 1 else np.log(b)
        return cls(
            num_train_steps=num_train_steps,
            respaced_steps=len(b),
            timestep_map=np.asarray(timestep_map, dtype=np.int64),
            betas=b,
            alphas_cumprod=acp,
            alphas_cumprod_prev=acp_prev,
            posterior_log_variance_clipped=post_log_var,
            posterior_mean_coef1=b * np.sqrt(acp_prev) / (1.0 - acp),
            posterior_mean_coef2=(1.0 - acp_prev) * np.sqrt(1.0 - b) / (1.0 - acp),
        )

    def q_sample(self, x0: torch.Tensor, index: int, noise: torch.Tensor) -> torch.Tensor:
        """Diffuse clean ``x0`` to respaced step ``index``; ``index == -1`` means no noise at all."""
        if index < 0:
            return x0
        acp = float(self.alphas_cumprod[index])
        return np.sqrt(acp) * x0 + np.sqrt(1.0 - acp) * noise

    def p_mean_variance(
        self, model_output: torch.Tensor, x_t: torch.Tensor, index: int, clip_denoised: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, log variance, predicted x0) of p(x_{t-1} | x_t) for a learned-range-sigma ε model.

        ``model_output`` has 2·C channels: ε and the variance interpolation v in [-1, 1] (ADM's
        LEARNED_RANGE): log σ² = frac·log β_t + (1 − frac)·log β̃_t with frac = (v + 1) / 2.
        """
        channels = x_t.shape[1]
        if model_output.shape[1] != 2 * channels:
            raise ValueError(
                f"expected a learned-sigma model output with {2 * channels} channels (ε and v), got {model_output.shape[1]}"
            )
        eps, v = model_output[:, :channels], model_output[:, channels:]
        min_log = float(self.posterior_log_variance_clipped[index])
        max_log = float(np.log(self.betas[index]))
        frac = (v + 1) / 2
        log_variance = frac * max_log + (1 - frac) * min_log
        acp = float(self.alphas_cumprod[index])
        pred_x0 = np.sqrt(1.0 / acp) * x_t - np.sqrt(1.0 / acp - 1.0) * eps
        if clip_denoised:
            pred_x0 = pred_x0.clamp(-1, 1)
        mean = float(self.posterior_mean_coef1[index]) * pred_x0 + float(self.posterior_mean_coef2[index]) * x_t
        return mean, log_variance, pred_x0
