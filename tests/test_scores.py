"""Training-free (zero-cost) scores: closed forms on hand-built networks, determinism, band models,
and the scores recorded with every trial and ranking a training-free sweep."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from helpers import BANDS, DATA, SCHEDULE
from optuna.study import StudyDirection
from optuna.trial import TrialState
from torch import nn

from nas.cli import main
from nas.datasets import load_dataset
from nas.scores import (
    SCORES,
    ScoreError,
    hamming_kernel,
    jacob_cov_from_jacobians,
    score_attrs,
    score_batch,
    score_config,
    score_model,
    scored_model,
)
from nas.study import SweepError
from nas.sweep import run_sweep
from nas.tables import export_study
from nas.trainer import adapt_config
from spaces import complexity, get_config, get_space, sample


def linear(weight, bias=None) -> nn.Linear:
    w = torch.tensor(weight, dtype=torch.float32)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


# --- closed forms ---------------------------------------------------------------------------------
CODES = [[1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0]]
# N_A = 4; Hamming distances d(0,1) = 1, d(0,2) = 3, d(1,2) = 4; K = N_A - d_H
KERNEL = [[4, 3, 1], [3, 4, 0], [1, 0, 4]]  # det = 4*16 - 3*12 + 1*(0 - 4) = 24


def test_hamming_kernel_of_hand_built_codes():
    assert hamming_kernel(torch.tensor(CODES, dtype=torch.bool)).tolist() == KERNEL
    assert math.isclose(
        float(torch.linalg.slogdet(hamming_kernel(torch.tensor(CODES)))[1]), math.log(24)
    )


def test_naswot_is_the_logdet_of_the_relu_codes_kernel_summed_over_layers():
    x = torch.tensor(CODES, dtype=torch.float32) * 2 - 1  # active exactly where the code is 1
    one = nn.Sequential(linear(np.eye(4)), nn.ReLU())
    assert math.isclose(
        score_model(one, x, names=["naswot"])["naswot"], math.log(24), rel_tol=1e-12
    )
    # a second ReLU with the same codes doubles K: det(2K) = 2^3 * 24 for 3 images
    two = nn.Sequential(linear(np.eye(4)), nn.ReLU(), linear(np.eye(4)), nn.ReLU(inplace=True))
    assert math.isclose(
        score_model(two, x, names=["naswot"])["naswot"], math.log(8 * 24), rel_tol=1e-12
    )
    twins = torch.cat([x[:1], x[:1]])  # identical codes: K is singular
    assert score_model(one, twins, names=["naswot"])["naswot"] == -math.inf
    with pytest.raises(ScoreError, match="ReLU-like"):
        score_model(nn.Sequential(linear(np.eye(4))), x, names=["naswot"])


def test_synflow_of_linear_nets_with_abs_weights_and_bn_bypassed():
    # one layer, all-ones input: sum_ij |W_ij| * 1
    one = linear([[1, -2, 3], [0.5, 0, -1]], bias=[-7, 2])
    assert math.isclose(score_model(one, torch.randn(5, 3), names=["synflow"])["synflow"], 7.5)
    # two layers: R = sum_k sum_j |W2_kj| sum_i |W1_ji| = 2*3 + 1*3.5 + 0.5*2 = 10.5; each layer's
    # sum of theta * dR/dtheta is R again, so synflow = 2R = 21. The BN in between (gamma 5)
    # is bypassed.
    w1, w2 = [[1, -2], [3, 0.5], [-1, 1]], [[2, -1, 0.5]]
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.weight.fill_(5.0)
        bn.bias.fill_(3.0)
    net = nn.Sequential(linear(w1), bn, nn.ReLU(), linear(w2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert math.isclose(score_model(net, torch.randn(4, 2), names=["synflow"])["synflow"], 21.0)
    after = net.state_dict()  # the model itself is untouched: signs, dtype, BN statistics, mode
    assert all(
        torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype for k in before
    )
    assert net.training


def test_synflow_is_double_precision_beyond_float32_range():
    # 40 layers of 10x10 weights 10: R = 10 * 100^40 = 1e81 (float32 overflows at 3e38); 40 layers
    # give 40R
    net = nn.Sequential(
        *[linear(np.full((10, 10), 10.0)) for _ in range(40)], linear(np.full((1, 10), -1.0))
    )
    assert math.isclose(
        score_model(net, torch.zeros(1, 10), names=["synflow"])["synflow"], 41 * 1e81, rel_tol=1e-9
    )


def test_snip_and_grad_norm_of_a_linear_layer_with_a_known_loss_gradient():
    # W = I, x = (1, 2), class 0: logits (1, 2), p0 = 1/(1+e); dL/dz = (p0 - 1, 1 - p0);
    # dL/dW = dL/dz x^T
    q = 1 - 1 / (1 + math.e)
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([0])
    one = linear(np.eye(2))
    s = score_model(one, x, y, names=["snip", "grad_norm"])
    assert math.isclose(s["snip"], 3 * q, rel_tol=1e-6)  # |1 * -q| + |1 * 2q|
    assert math.isclose(s["grad_norm"], q * math.sqrt(10), rel_tol=1e-6)  # ||q (-1, -2; 1, 2)||_F
    # two identity layers: each gets the same gradient; grad_norm sums the per-layer norms
    two = nn.Sequential(linear(np.eye(2)), linear(np.eye(2)))
    s2 = score_model(two, x, y, names=["snip", "grad_norm"])
    assert math.isclose(s2["snip"], 6 * q, rel_tol=1e-6) and math.isclose(
        s2["grad_norm"], 2 * q * math.sqrt(10), rel_tol=1e-6
    )
    with pytest.raises(ScoreError, match="labels"):
        score_model(one, x, names=["snip"])


def test_jacob_cov_from_the_input_jacobians_correlations():
    # Jacobians (1, 1, 0) and (1, 0, 0): correlation 0.5, eigenvalues 1.5 and 0.5
    k = 1e-5
    expected = -sum(math.log(v + k) + 1 / (v + k) for v in (1.5, 0.5))
    assert math.isclose(
        jacob_cov_from_jacobians(torch.tensor([[1.0, 1, 0], [1, 0, 0]])), expected, rel_tol=1e-9
    )
    net = nn.Sequential(linear(np.eye(3)), nn.ReLU())  # d(sum relu(x))/dx = 1[x > 0]
    x = torch.tensor([[1.0, 2, -1], [1, -1, -2]])
    assert math.isclose(
        score_model(net, x, names=["jacob_cov"])["jacob_cov"], expected, rel_tol=1e-9
    )


def test_unknown_scores_are_refused():
    with pytest.raises(ScoreError, match="unknown score 'zen'; valid: naswot, synflow"):
        score_model(nn.ReLU(), torch.ones(2, 2), names=["zen"])


# --- real networks --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def band_model():
    """The first config `nas sample --space anynetx_e` trains (360-400 MF at 224 px), on 28 px
    1-channel data."""
    return get_config(sample(get_space("anynetx_e"), 1, seed=0).records[0]), load_dataset(DATA)


def test_every_score_runs_on_a_band_model_and_is_deterministic(band_model):
    cfg, data = band_model
    first = score_config(cfg, data, seed=0, device="cpu")
    assert list(first) == list(SCORES) and all(math.isfinite(v) for v in first.values()), first
    assert first["synflow"] > 0 and first["snip"] > 0 and first["grad_norm"] > 0
    assert score_config(cfg, data, seed=0, device="cpu") == first  # same seed, same scores
    other = score_config(cfg, data, seed=1, device="cpu")  # another init and batch
    assert all(other[k] != first[k] for k in SCORES)


def test_scores_use_the_trainers_initialisation(band_model):
    cfg, data = band_model
    torch.manual_seed(3)
    trained = nas_trainer_model(cfg, data)
    scored = scored_model(cfg, data, seed=3)
    assert all(
        torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), scored.state_dict().values(), strict=True)
    )
    finals = [m for m in scored.modules() if getattr(m, "final_bn", False)]
    # zero-init of residual branches
    assert finals and all(not m.weight.detach().any() for m in finals)
    x, y = score_batch(data, 64, seed=3)
    assert x.shape == (64, 1, 28, 28) and abs(float(x.mean())) < 1 and y.shape == (64,)
    assert torch.equal(score_batch(data, 64, seed=3)[0], x) and not torch.equal(
        score_batch(data, 64, seed=4)[0], x
    )


def nas_trainer_model(cfg, data):
    from spaces import build_model

    # as nas.trainer.train builds it
    return build_model(adapt_config(cfg, data), zero_init_last=True)


def test_score_attrs_records_failures_instead_of_raising(band_model):
    cfg, data = band_model
    attrs = score_attrs(cfg, data, ["naswot"], device="cpu")
    assert (
        set(attrs) == {"score_naswot", "score_batch", "score_seconds"}
        and attrs["score_batch"] == 64
    )
    assert "score_error" in score_attrs(cfg, data, ["nonsense"], device="cpu")


# --- sweeps ---------------------------------------------------------------------------------------
def fake_train(cfg, dataset, schedule, seed=0, device="cpu", threads=None):
    """A stand-in for the trainer (its result as a dict): only the bookkeeping is under test.

    Not helpers.fake_train: every trial here has the same error, 0.5 (the tests read it back), and
    the result is a dict without the speed and latency fields."""
    cx = complexity(adapt_config(cfg, dataset), dataset.resolution)
    return {
        "error": 0.5,
        "train_loss": 1.0,
        "train_seconds": 0.01,
        "device": "cpu",
        "params": cx.params,
        "flops": cx.flops,
        "acts": cx.acts,
    }


def options(tmp_path, **kw):
    return {
        "seed": 0,
        "bands": BANDS,
        "dataset": DATA,
        "device": "cpu",
        "threads": 1,
        "progress": False,
        "storage": str(tmp_path / "s.journal"),
        "schedule": SCHEDULE,
        **kw,
    }


def test_trained_trials_record_every_score_and_export_has_them(tmp_path):
    summary = run_sweep("anynetx_e", 2, train_fn=fake_train, **options(tmp_path))
    assert summary.complete == 2 and not summary.training_free
    df = export_study("anynetx_e-s0", str(tmp_path / "s.journal"))
    data = load_dataset(DATA)
    for _, row in df.iterrows():
        expected = score_config(
            get_config(
                sample(get_space("anynetx_e"), 2, seed=0, bands=BANDS).records[int(row["index"])]
            ),
            data,
            seed=0,
            device="cpu",
        )
        for name, value in expected.items():
            assert row[f"score_{name}"] == pytest.approx(value, rel=1e-9), name
        assert row["error"] == 0.5 and not row["training_free"] and row["score_batch"] == 64


def test_training_free_sweep_ranks_by_a_score_and_says_so_everywhere(tmp_path, capsys):
    storage = str(tmp_path / "s.journal")
    flags = [
        "--space",
        "anynetx_e",
        "-n",
        "3",
        "--flops",
        ":30M",
        "--storage",
        storage,
        "--dataset",
        DATA,
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    assert main(["sample", *flags, "--score", "naswot,synflow"]) == 0
    out = capsys.readouterr().out
    name = "anynetx_e-s0-trainfree-naswot"
    assert (
        out.startswith(f"TRAINING-FREE study {name}")
        and "not errors" in out
        and "--metric score_naswot" in out
    )
    study = optuna.load_study(
        study_name=name,
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
    )
    assert study.direction == StudyDirection.MAXIMIZE
    assert (
        study.user_attrs["training_free"] is True
        and study.user_attrs["objective"] == "score_naswot"
    )
    assert "schedule" not in study.user_attrs and study.user_attrs["scores"] == [
        "naswot",
        "synflow",
    ]
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert t.value == t.user_attrs["score_naswot"] and "error" not in t.user_attrs
        assert "score_synflow" in t.user_attrs and "score_snip" not in t.user_attrs

    # resumes: nothing left
    assert main(["sample", *flags, "--score", "naswot,synflow", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["trained"], again["complete"], again["training_free"], again["score"]) == (
        0,
        3,
        True,
        "naswot",
    )
    assert again["best_score"] == max(t.value for t in trials)

    df = export_study(name, storage)
    assert (
        df["training_free"].all()
        and df["error"].isna().all()
        and {"score_naswot", "score_synflow"} <= set(df)
    )

    assert main(["status", "--study", name, "--storage", storage]) == 0
    assert "TRAINING-FREE" in capsys.readouterr().out

    csv = tmp_path / "free.csv"
    df.to_csv(csv, index=False)
    assert (
        main(["analyze", str(csv), "--out", str(tmp_path / "a"), "--bootstrap", "20", "--no-efit"])
        == 2
    )
    assert "training-free study: it holds zero-cost scores, not errors" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                str(csv),
                "--out",
                str(tmp_path / "a"),
                "--bootstrap",
                "20",
                "--no-efit",
                "--metric",
                "score_naswot",
                "--normalize",
                "none",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["metric"]["analysed"] == "-score_naswot"
    assert summary["spaces"]["free"]["min_error"] == pytest.approx(-df["score_naswot"].max())
    assert "**Metric: -score_naswot**" in (tmp_path / "a" / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--score", "zen"],
            "unknown score 'zen'; valid: naswot, synflow, snip, grad_norm, jacob_cov",
        ),
        (["--score", ""], "no score asked for; valid: naswot"),
        (["--score", "naswot", "--dry-run"], "--dry-run only writes the configs"),
    ],
)
def test_score_flag_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    code = main(
        [
            "sample",
            "--space",
            "anynetx_e",
            "-n",
            "2",
            "--flops",
            ":30M",
            "--storage",
            str(tmp_path / "s.journal"),
            "--dataset",
            DATA,
            "--device",
            "cpu",
            *argv,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_training_free_study_is_not_resumed_as_a_trained_one(tmp_path):
    run_sweep("anynetx_e", 1, training_free=True, scores=["naswot"], study="x", **options(tmp_path))
    with pytest.raises(SweepError, match="with other settings"):
        run_sweep("anynetx_e", 1, study="x", train_fn=fake_train, **options(tmp_path))
    assert pd.isna(export_study("x", str(tmp_path / "s.journal"))["error"]).all()
