"""A dataset at another resolution: its images resized, its statistics recomputed
(`nas scale --grid`)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from nas.datasets.dataset import Dataset, channel_stats

__all__ = ["resize_dataset"]


def resize_dataset(data: Dataset, resolution: int) -> Dataset:
    """The dataset with its images resized (bilinear, antialiased) to resolution x resolution, its
    name ``NAME@RESOLUTION``; the same object when it already has that resolution."""
    if resolution == data.resolution:
        return data

    def resize(x: torch.Tensor) -> torch.Tensor:
        chunks = [
            F.interpolate(
                c.float(),
                size=(resolution, resolution),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
            .round_()
            .clamp_(0, 255)
            .to(torch.uint8)
            for c in torch.split(x, 8192)
        ]
        return torch.cat(chunks).contiguous()

    train_x = resize(data.train_x)
    mean, std = channel_stats(train_x)
    return dataclasses.replace(
        data,
        name=f"{data.name}@{resolution}",
        train_x=train_x,
        test_x=resize(data.test_x),
        mean=mean,
        std=std,
    )
