"""`nas analyze STUDY` and `nas fit-regnet --study` end to end on a real study in a real journal.

The sweeps are run by nas.sweep with the trainer replaced by a deterministic stand-in (the
bookkeeping of a real study, a real journal file, no minutes of training); the analysis reads them
back through export.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import ranked_train
from scipy import stats

from nas.cli import main
from nas.datasets import load_dataset
from nas.sweep import run_sweep
from nas.tables import export_study
from nas.trainer import Schedule
from spaces.sampling import Band

# not helpers.DATA: a smaller synthetic set (64 training images are used), with a 400 MF band that
# RegNetX studies are drawn in
DATA = "synthetic:256"


def test_analyze_and_fit_regnet_on_real_studies(tmp_path, capsys):
    load_dataset(DATA)
    journal = str(tmp_path / "s.journal")
    common = {
        "bands": [Band("flops", None, 400e6)],
        "dataset": DATA,
        "schedule": Schedule(train_size=64),
        "device": "cpu",
        "threads": 1,
        "storage": journal,
        "progress": False,
        "scores": (),
        "train_fn": ranked_train,
    }
    run_sweep("anynetx_e", 12, **common)
    run_sweep("regnetx", 12, **common)
    frames = {s: export_study(f"{s}-s0", journal) for s in ("anynetx_e", "regnetx")}
    out = tmp_path / "out"
    code = main(
        [
            "analyze",
            "anynetx_e-s0",
            "regnetx-s0",
            "--storage",
            journal,
            "--normalize",
            "none",
            "--bootstrap",
            "50",
            "--no-efit",
            "--out",
            str(out),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    for s, frame in frames.items():
        got, errors = summary["spaces"][f"{s}-s0"], frame["error"].to_numpy()
        assert got["n"] == 12 and got["failed"] == 0
        assert np.isclose(got["mean_error"], errors.mean()) and np.isclose(
            got["min_error"], errors.min()
        )
        assert np.isclose(got["median_error"], np.median(errors))
    (entry,) = summary["ks"]
    ks = stats.ks_2samp(frames["anynetx_e"]["error"], frames["regnetx"]["error"]).statistic
    assert (entry["a"], entry["b"], entry["normalized"]) == ("anynetx_e-s0", "regnetx-s0", False)
    assert np.isclose(entry["D"], ks) and 0 < entry["p_value"] <= 1
    assert (out / "report.md").exists()

    code = main(
        ["fit-regnet", "--study", "regnetx-s0", "--storage", journal, "--top", "3", "--json"]
    )
    fit = json.loads(capsys.readouterr().out)
    assert code == 0 and len(fit["models"]) == 3
    best = frames["regnetx"].sort_values("error").head(3)
    assert [m["error"] for m in fit["models"]] == pytest.approx(best["error"].tolist())
    # each model's observed widths are its config's per-block widths (after the compatibility step)
    for m, (_, row) in zip(fit["models"], best.iterrows(), strict=True):
        blocks = [row[f"width_{i}"] for i in range(1, 5) for _ in range(int(row[f"depth_{i}"]))]
        assert m["observed"] == blocks and m["e_fit"] >= 0
