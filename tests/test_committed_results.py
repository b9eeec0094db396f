"""The committed studies and tables under results/ still load with the current code (issue 14).

results/example.journal holds the two `nas sample` studies that results/example_anynetx_a.csv and
results/example_anynetx_e.csv were exported from (results/README.md). A copy of the journal is
opened (the committed file is never opened for writing) and exported again: the same rows, the same
values in every column of the committed CSVs, and each row's config builds the model its record
counts. Every committed table of trials (those CSVs, and any `nas export` table under
results/analysis/) reads through analysis.data.load_frame and clean, and the configs of its `config`
column build."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from datetime import UTC, datetime

import pandas as pd
import pytest
from helpers import ROOT, bench_module
from optuna.trial import TrialState

from analysis.data import clean, load_frame
from nas.storage import open_storage, study_names
from nas.study import load_study
from nas.tables import export_study, write_table
from spaces import complexity, get_config

RESULTS = ROOT / "results"
JOURNAL = RESULTS / "example.journal"
# the study of the journal each committed CSV was exported from (results/README.md), 32 configs each
EXPORTS = {
    "anynetx_a-s0": RESULTS / "example_anynetx_a.csv",
    "anynetx_e-s0": RESULTS / "example_anynetx_e.csv",
}
N = 32
DATETIME_COLUMNS = ("datetime_start", "datetime_complete")


def _columns(path):
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names
    with path.open(newline="") as f:
        return next(csv.reader(f), [])


def trial_tables():
    """The committed tables of trials: the example exports, and every CSV or Parquet file under
    results/analysis/ with the columns of a `nas export` table (state and error)."""
    found = list(EXPORTS.values())
    analysis = RESULTS / "analysis"
    if analysis.is_dir():
        found += [
            p
            for p in sorted(analysis.rglob("*"))
            if p.is_file()
            and p.suffix.lower() in (".csv", ".parquet")
            and {"state", "error"} <= set(_columns(p))
        ]
    return found


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    """A copy of the committed journal (opening a journal may rewrite it: a torn last line is
    set aside)."""
    before = _digest(JOURNAL)
    copy = tmp_path_factory.mktemp("committed") / "example.journal"
    shutil.copy(JOURNAL, copy)
    yield str(copy)
    assert _digest(JOURNAL) == before  # the committed journal itself was never written


@pytest.fixture(scope="module")
def exports(journal, tmp_path_factory):
    """Each study of the copy exported again and written as CSV, as `nas export -o` writes it, and
    read back."""
    out = tmp_path_factory.mktemp("exports")
    frames = {}
    for name in EXPORTS:
        path = write_table(export_study(name, journal), out / f"{name}.csv")
        frames[name] = load_frame(path)
    return frames


def _utc(text):
    """A datetime of an export (local time, to the second) in UTC, as the committed CSVs
    were written."""
    if not isinstance(text, str):
        return text
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_the_committed_journal_holds_its_two_finished_sample_studies(journal):
    assert sorted(study_names(open_storage(journal, create=False))) == sorted(EXPORTS)
    for name in EXPORTS:
        st = load_study(journal, name)
        attrs = st.study.user_attrs
        assert (attrs["kind"], attrs["space"], attrs["seed"], attrs["n"]) == (
            "sample",
            name[:-3],
            0,
            N,
        )
        trials = st.trials()
        assert len(trials) == N and sorted(t.user_attrs["index"] for t in trials) == list(range(N))
        assert all(t.state.name == "COMPLETE" and t.value == t.user_attrs["error"] for t in trials)


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_the_export_of_the_journal_is_the_committed_csv(exports, name):
    new, old = exports[name], load_frame(EXPORTS[name])
    assert len(new) == len(old) == N and list(new["trial"]) == list(old["trial"])
    missing = [c for c in old.columns if c not in new.columns]
    assert not missing, f"the export lost the column(s) {missing}"
    for column in old.columns:
        got = new[column].map(_utc) if column in DATETIME_COLUMNS else new[column]
        pd.testing.assert_series_equal(
            got, old[column], check_dtype=False, check_exact=True, obj=f"{name} column {column}"
        )


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_exported_config_builds_the_model_its_row_describes(exports, name):
    old = load_frame(EXPORTS[name]).set_index("trial")
    stage_columns = [
        c
        for c in old.columns
        if c.rsplit("_", 1)[0] in ("depth", "width", "stride", "bottleneck", "group_width")
    ]
    assert len(stage_columns) == 20
    for _, row in exports[name].iterrows():
        cfg = get_config(row)  # the `config` column
        committed = old.loc[row["trial"]]
        for column in stage_columns:
            field, i = column.rsplit("_", 1)
            assert getattr(cfg.stages[int(i) - 1], field) == committed[column], (
                row["trial"],
                column,
            )
        assert (cfg.block, cfg.stem_width) == (committed["block"], committed["stem_width"])
        cx = complexity(cfg, 224)  # the committed counts are at 224 px
        assert (cx.params, cx.flops, cx.acts) == (
            committed["params"],
            committed["flops"],
            committed["acts"],
        )


@pytest.mark.parametrize("path", trial_tables(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_a_committed_table_of_trials_loads_and_cleans(path):
    frame = load_frame(path)
    assert len(frame) > 0
    for policy in ("exclude", "as_error"):
        c = clean(frame, policy, label=path.name)
        kept = (
            len(frame)
            - c.unfinished
            - c.pruned
            - c.retried
            - (c.failed if policy == "exclude" else 0)
        )
        assert len(c.frame) == kept > 0
        assert all(math.isfinite(e) and 0 <= e <= 1 for e in c.frame["error"])
    if path in EXPORTS.values():  # all 32 trained
        assert len(clean(frame).frame) == N
    if "config" in frame.columns:
        for _, row in frame[frame["config"].notna()].iterrows():
            get_config(row)


PAPER = RESULTS / "paper"


@pytest.mark.skipif(
    not (PAPER / "analysis" / "findings.md").exists(), reason="the paper study is not committed yet"
)
def test_paper_findings_follow_from_the_committed_sweeps(tmp_path):
    """results/paper/FINDINGS.md's table is the one the fixed rules give on the committed exports
    (`nas analyze ... --findings` with its default settings), and each export matches its journal
    study's finished trials (results/paper/README.md has the commands)."""
    from analysis.findings import evaluate_findings, findings_markdown

    exports = sorted(PAPER.glob("*.parquet"))
    assert exports, "results/paper has findings but no exports"
    frames = {p.stem: load_frame(p) for p in exports}
    table = findings_markdown(evaluate_findings(frames))
    assert (PAPER / "analysis" / "findings.md").read_text() == table
    assert table in (PAPER / "FINDINGS.md").read_text()
    journal = tmp_path / "paper.journal"
    shutil.copy(PAPER / "paper.journal", journal)  # the committed file is never opened to write
    for space, frame in frames.items():
        done = load_study(str(journal), f"{space}-s0").trials([TrialState.COMPLETE])
        assert len(done) == int((frame["state"] == "COMPLETE").sum()), space


@pytest.mark.skipif(not PAPER.exists(), reason="the paper study is not committed yet")
@pytest.mark.parametrize("space", [p.stem for p in sorted(PAPER.glob("*.parquet"))])
def test_the_paper_commands_draw_the_committed_configs_again(space):
    """A reader who runs results/paper/README.md's commands trains the same models: the sampler
    today (the space's pycls rules, seed 0, the 360-400 MF band) draws, index for index, the config
    and reference flops of every committed trial."""
    from spaces import get_space, sample

    frame = pd.read_parquet(PAPER / f"{space}.parquet").sort_values("index")
    records = sample(get_space(space), int(frame["index"].max()) + 1, seed=0).records
    for row in frame.to_dict("records"):
        stored = json.loads(row["config"])
        drawn = records[row["index"]]
        assert {k: drawn[k] for k in stored} == stored, (space, row["index"])
        assert drawn["flops"] == row["flops"], (space, row["index"])


@pytest.mark.skipif(
    not (PAPER / "noise.jsonl").exists(), reason="the paper study's noise runs are not committed"
)
def test_paper_noise_table_follows_from_the_committed_runs():
    """results/paper/noise.csv and the noise table in FINDINGS.md are what bench/paper_noise.py
    computes from the committed noise runs, exports and ground truth, and every rerun at the study's
    seed is one of the committed trials."""
    paper_noise = bench_module("paper_noise")
    noise, repro = paper_noise.tables(PAPER)
    committed = pd.read_csv(PAPER / "noise.csv")
    assert list(committed.columns) == list(noise.columns)
    assert committed["space"].tolist() == noise["space"].tolist()
    numeric = noise.columns.drop("space")
    assert committed[numeric].to_numpy() == pytest.approx(noise[numeric].to_numpy(), rel=1e-5)
    truth = paper_noise.study_fidelity(PAPER, ROOT / paper_noise.TRUTH)
    assert paper_noise.markdown(noise, repro, truth) in (PAPER / "FINDINGS.md").read_text()
    reruns = paper_noise.load_runs(PAPER)
    assert len(repro) == int((reruns["seed"] == paper_noise.STUDY_SEED).sum())
    assert repro["committed"].notna().all()  # every rerun is of a trial the study finished


def test_the_default_proxy_is_the_one_the_fidelity_table_picks():
    """Issue 12's rule on the committed ground truth and proxy runs (recomputed, not read from
    fidelity.csv): the cheapest trained schedule at Spearman 0.8, else the best; the trainer's
    default schedule is that one."""
    from nas.schedule import Schedule

    proxy_fidelity = bench_module("proxy_fidelity")
    folder = ROOT / "results" / "ground_truth"
    df, _ = proxy_fidelity.table(folder, truth_seeds=2)
    committed = pd.read_csv(folder / "fidelity.csv")
    assert sorted(committed.proxy) == sorted(df.proxy)
    row, met = proxy_fidelity.pick_default(df)
    d = Schedule().to_dict()
    # the label of the picked file's schedule is that of the default (precision aside: the truth's
    # files force bf16, `nas sample` decides by the CPU)
    assert row.proxy == proxy_fidelity.schedule_label(d), (row.proxy, met)
    assert met and row.spearman >= 0.8
    # and every setting of that file's runs but the precision is the default's
    (picked,) = [
        json.loads(path.read_text().splitlines()[0])["schedule"]
        for path in folder.glob("proxy_*.jsonl")
        if proxy_fidelity.schedule_label(json.loads(path.read_text().splitlines()[0])["schedule"])
        == row.proxy
    ]
    assert {k: v for k, v in picked.items() if k != "precision"} == {
        k: v for k, v in d.items() if k != "precision"
    }
