"""Pareto fronts of two objectives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.errors import AnalysisError
from analysis.pareto import pareto_mask, plot_pareto


def test_pareto_mask_by_hand():
    # (flops, error): (1, .5) (2, .4) (3, .45) (4, .3) (2, .4) duplicate; (3, .45) is dominated by
    # (2, .4)
    x = np.array([1, 2, 3, 4, 2])
    y = np.array([0.5, 0.4, 0.45, 0.3, 0.4])
    assert pareto_mask(x, y).tolist() == [True, True, False, True, True]
    # (4, .3) wins both
    assert pareto_mask(x, y, maximize_x=True).tolist() == [False, False, False, True, False]
    with pytest.raises(AnalysisError):
        pareto_mask(x, y[:3])


def test_pareto_mask_against_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, 300), rng.integers(0, 20, 300)
    brute = [
        not any(x[j] <= x[i] and y[j] <= y[i] and (x[j] < x[i] or y[j] < y[i]) for j in range(300))
        for i in range(300)
    ]
    assert pareto_mask(x, y).tolist() == brute


def test_plot_pareto_draws_each_space(tmp_path):
    rng = np.random.default_rng(1)
    frames = {
        s: pd.DataFrame({"flops": rng.uniform(3.6e8, 4e8, 40), "error": rng.uniform(0.1, 0.2, 40)})
        for s in ("a", "e")
    }
    path = plot_pareto(frames, "flops", "error", tmp_path / "p.png")
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    for color in ((31, 119, 180), (255, 127, 14)):  # tab:blue, tab:orange
        assert (np.abs(pixels - color).sum(axis=1) < 60).sum() > 50
