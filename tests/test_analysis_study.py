"""`nas analyze STUDY` and `nas fit-regnet --study` end to end on a real study in a real journal.

The sweeps are run by nas.sweep with the trainer replaced by a deterministic stand-in (the bookkeeping of a
real study, a real journal file, no minutes of training); the analysis reads them back through export.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from nas.cli import main
from nas.data import load_dataset
from nas.sweep import export_study, run_sweep
from nas.trainer import Schedule, TrainResult, adapt_config
from spaces import complexity
from spaces.sampling import Band

DATA = "synthetic:256"


def stand_in(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    """Error falls with the last stage's width: a known ranking for the analysis to find."""
    cx = complexity(adapt_config(cfg, dataset), dataset.resolution)
    error = 0.9 - cfg.stages[-1].width / 2000
    return TrainResult(error=error, train_loss=1.0, train_seconds=0.01, images_per_second=1e4, latency_ms_b1=0.1,
                       latency_ms_b64=1.0, epochs=1, steps=1, device="cpu", precision="fp32", params=cx.params,
                       flops=cx.flops, acts=cx.acts, history=[1.0])


def test_analyze_and_fit_regnet_on_real_studies(tmp_path, capsys):
    load_dataset(DATA)
    journal = str(tmp_path / "s.journal")
    common = {"bands": [Band("flops", None, 400e6)], "dataset": DATA, "schedule": Schedule(train_size=64),
              "device": "cpu", "threads": 1, "storage": journal, "progress": False, "scores": (),
              "train_fn": stand_in}
    run_sweep("anynetx_e", 12, **common)
    run_sweep("regnetx", 12, **common)
    frames = {s: export_study(f"{s}-s0", journal) for s in ("anynetx_e", "regnetx")}
    out = tmp_path / "out"
    code = main(["analyze", "anynetx_e-s0", "regnetx-s0", "--storage", journal, "--normalize", "none",
                 "--bootstrap", "50", "--no-efit", "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    for s, frame in frames.items():
        got, errors = summary["spaces"][f"{s}-s0"], frame["error"].to_numpy()
        assert got["n"] == 12 and got["failed"] == 0
        assert np.isclose(got["mean_error"], errors.mean()) and np.isclose(got["min_error"], errors.min())
        assert np.isclose(got["median_error"], np.median(errors))
    (entry,) = summary["ks"]
    ks = stats.ks_2samp(frames["anynetx_e"]["error"], frames["regnetx"]["error"]).statistic
    assert (entry["a"], entry["b"], entry["normalized"]) == ("anynetx_e-s0", "regnetx-s0", False)
    assert np.isclose(entry["D"], ks) and 0 < entry["p_value"] <= 1
    assert (out / "report.md").exists()

    code = main(["fit-regnet", "--study", "regnetx-s0", "--storage", journal, "--top", "3", "--json"])
    fit = json.loads(capsys.readouterr().out)
    assert code == 0 and len(fit["models"]) == 3
    best = frames["regnetx"].sort_values("error").head(3)
    assert [m["error"] for m in fit["models"]] == pytest.approx(best["error"].tolist())
    # each model's observed widths are its config's per-block widths (after the compatibility step)
    for m, (_, row) in zip(fit["models"], best.iterrows(), strict=True):
        blocks = [row[f"width_{i}"] for i in range(1, 5) for _ in range(int(row[f"depth_{i}"]))]
        assert m["observed"] == blocks and m["e_fit"] >= 0
