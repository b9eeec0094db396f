"""`nas best`, `nas studies`, the `config` column of an export read back by `spaces.get_config`, and
the analyze report's best configs, on real studies in a real journal (the trainer replaced by a
deterministic stand-in, helpers.ranked_train, as in test_analysis_study.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import ranked_train

from analysis.report import analyze
from nas.cli import main
from nas.datasets import load_dataset
from nas.sweep import run_sweep
from nas.tables import export_study, write_table
from nas.trainer import Schedule
from spaces import ConfigError, get_config, get_space, sample
from spaces.sampling import Band

# not helpers.DATA / BANDS: the setup of test_analysis_study.py (a smaller synthetic set, 64
# training images, and a 400 MF band that RegNetX studies are drawn in)
DATA = "synthetic:256"
BANDS = [Band("flops", None, 400e6)]


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    load_dataset(DATA)
    path = str(tmp_path_factory.mktemp("best") / "s.journal")
    common = {
        "bands": BANDS,
        "dataset": DATA,
        "schedule": Schedule(train_size=64),
        "device": "cpu",
        "threads": 1,
        "storage": path,
        "progress": False,
    }
    run_sweep("anynetx_e", 8, scores=(), train_fn=ranked_train, **common)
    run_sweep("regnetx", 4, training_free=True, scores=["naswot"], **common)
    return path


def test_exported_rows_carry_their_config(journal, tmp_path):
    frame = export_study("anynetx_e-s0", journal)
    records = sample(get_space("anynetx_e"), 8, seed=0, bands=BANDS).records
    write_table(frame, tmp_path / "e.csv")
    back = pd.read_csv(tmp_path / "e.csv")
    for (_, row), (_, read) in zip(frame.iterrows(), back.iterrows(), strict=True):
        want = get_config(records[int(row["index"])])
        assert get_config(row) == want  # a Series
        assert get_config(row.to_dict()) == want  # a dict
        assert get_config(row["config"]) == want  # the JSON text itself
        assert get_config(read) == want  # a row of the CSV file
    with pytest.raises(ConfigError, match="no 'config' column"):
        get_config(frame.drop(columns="config").iloc[0])
    with pytest.raises(ConfigError, match="not valid JSON"):
        get_config({"config": "{nope"})


def test_nas_best_ranks_by_error(journal, capsys):
    frame = export_study("anynetx_e-s0", journal)
    assert (
        main(["best", "--study", "anynetx_e-s0", "--storage", journal, "--top", "3", "--json"]) == 0
    )
    best = json.loads(capsys.readouterr().out)
    want = frame.sort_values(["error", "trial"]).head(3)
    assert best["metric"] == "error" and not best["training_free"] and best["complete"] == 8
    assert [r["trial"] for r in best["rows"]] == want["trial"].tolist()
    assert [r["error"] for r in best["rows"]] == pytest.approx(want["error"].tolist())
    for r, (_, row) in zip(best["rows"], want.iterrows(), strict=True):
        assert (r["params"], r["flops"], r["acts"]) == (row["params"], row["flops"], row["acts"])
        assert (
            get_config(r["config"]) == get_config(row)
            and r["description"] == get_config(row).describe()
        )
    assert main(["best", "--study", "anynetx_e-s0", "--storage", journal, "--top", "2"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "ranked by error (lower is better)" in text[0] and len(text) == 4
    assert (
        text[2].split()[1] == str(best["rows"][0]["trial"])
        and best["rows"][0]["description"] in text[2]
    )


def test_nas_best_ranks_a_training_free_study_by_its_score(journal, capsys):
    frame = export_study("regnetx-s0-trainfree-naswot", journal)
    assert (
        main(["best", "--study", "regnetx-s0-trainfree-naswot", "--storage", journal, "--json"])
        == 0
    )
    best = json.loads(capsys.readouterr().out)
    assert best["training_free"] and best["higher_is_better"] and best["metric"] == "score_naswot"
    scores = [r["score_naswot"] for r in best["rows"]]
    assert (
        scores == sorted(frame["score_naswot"].dropna(), reverse=True)
        and len(scores) == best["complete"] > 1
    )
    assert main(["best", "--study", "regnetx-s0-trainfree-naswot", "--storage", journal]) == 0
    assert "TRAINING-FREE study: ranked by score_naswot" in capsys.readouterr().out


def test_nas_studies_lists_kind_counts_and_progress(journal, capsys, tmp_path):
    assert main(["studies", "--storage", journal, "--json"]) == 0
    rows = {r["study"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"anynetx_e-s0", "regnetx-s0-trainfree-naswot"}
    e, free = rows["anynetx_e-s0"], rows["regnetx-s0-trainfree-naswot"]
    assert (
        e["kind"],
        e["space"],
        e["n"],
        e["complete"],
        e["failed"],
        e["running"],
        e["waiting"],
    ) == ("sample", "anynetx_e", 8, 8, 0, 0, 0)
    assert e["progress"] == 1.0 and free["kind"] == "training-free" and free["n"] == 4
    assert free["complete"] + free["failed"] == 4
    assert main(["studies", "--storage", journal]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 studies in ") and "8/8 (100.0%)" in text and "training-free" in text
    assert main(["studies", "--storage", str(tmp_path / "none.journal")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas studies: error: no storage at") and err.count("\n") == 1


def test_analyze_report_lists_the_best_configs(journal, tmp_path):
    frame = export_study("anynetx_e-s0", journal)
    summary = analyze(
        {"e": frame},
        tmp_path / "out",
        normalize="none",
        n_boot=20,
        n_perm=20,
        n_best=20,
        efit=False,
    )
    top = summary["spaces"]["e"]["top_configs"]
    best = frame.sort_values("error", kind="stable").head(5)
    assert [t["trial"] for t in top] == best["trial"].tolist()
    assert [t["config"] for t in top] == [get_config(row).describe() for _, row in best.iterrows()]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Best configs" in report and top[0]["config"] in report
