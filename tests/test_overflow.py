"""Complexity counts are exact at any size, never wrapped past int64, and compound scaling that
would give an absurd network is refused at once (issue 15, defect 6). Exactness is checked against
scaling laws the counts must obey: at resolutions R = r * k with r divisible by every stride
product, each conv's output has k^2 times the pixels, so flops(R) - head = (flops(r) - head) * k^2,
and acts likewise; params do not depend on R."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nas.cli import main
from spaces import complexity, get_config, get_space
from spaces.errors import ConfigError
from spaces.layers import Conv, Linear, Seq, count_graph
from spaces.scaling_limits import check_multipliers

INT64_MAX = 2**63 - 1
HUGE = {
    "block": "X",
    "stem_width": 32,
    "stages": [
        {"depth": 80, "width": 262144, "stride": 2, "bottleneck": 1, "group_width": 262144}
        for _ in range(4)
    ],
}


def _scaled(small, k: int, head_flops: int, head_acts: int):
    return (
        (small.flops - head_flops) * k * k + head_flops,
        (small.acts - head_acts) * k * k + head_acts,
    )


def test_a_huge_config_at_4096_px_is_counted_exactly(tmp_path, capsys):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(HUGE))
    assert main(["complexity", str(path), "--resolution", "4096", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    small = complexity(get_config(str(path)), 128)
    head = 262144 * 1000
    assert (out["flops"], out["acts"]) == _scaled(small, 32, head, 1000)
    assert out["flops"] > INT64_MAX and out["params"] == small.params


@pytest.mark.parametrize("name", ["regnetx_400mf", "resnet50", "resnext50_32x4d"])
def test_named_models_at_a_huge_resolution_are_exact(name):
    cfg = get_config(name)
    small = complexity(cfg, 224)
    k = 200_000
    big = complexity(cfg, 224 * k)
    width = cfg.body().stages[-1].width if hasattr(cfg, "body") else cfg.stages[-1].width
    assert (big.flops, big.acts) == _scaled(small, k, width * 1000, 1000)
    assert big.flops > INT64_MAX and big.params == small.params


def test_a_batch_of_sampled_candidates_is_exact_at_a_huge_resolution():
    space = get_space("anynetx_e")
    cands = space.draw(np.random.default_rng(0), 64)
    k = 2**21
    small, big = cands.cost(224), cands.cost(224 * k)
    head = cands.width[:, -1] * 1000
    for i in range(len(cands)):
        expected = (int(small.flops[i]) - int(head[i])) * k * k + int(head[i])
        assert int(big.flops[i]) == expected and expected > INT64_MAX
        assert int(big.acts[i]) == (int(small.acts[i]) - 1000) * k * k + 1000
    assert small.flops.dtype == np.int64  # the fast path stays int64 where that is safe


def test_graph_nodes_with_numpy_sizes_count_in_python_ints():
    big = np.int64(2**40)
    cost, shape = Linear(big).count((2**40, 1, 1))
    assert (cost.flops, cost.params, shape) == (2**80, 2**80 + 2**40, (2**40, 1, 1))
    cost, _ = count_graph(Seq((Conv(np.int64(2**20), 3),)), (2**20, 2**16, 2**16))
    assert cost.flops == 2**20 * 2**20 * 9 * 2**32


def test_scaling_past_the_limit_is_refused_at_once():
    for phi, alpha in ((100, 1.2), (60, 1.2), (5, 1e300)):
        with pytest.raises(ConfigError, match="above the limit of x1000"):
            check_multipliers(phi, alpha, 1.1, 1.15)
    with pytest.raises(ConfigError, match="finite"):
        check_multipliers(float("inf"), 1.2, 1.1, 1.15)
    check_multipliers(30, 1.2, 1.1, 1.15)  # x237 deep: allowed


@pytest.mark.parametrize(
    "argv",
    [["--base", "efficientnet_b0", "--phi", "100"], ["--base", "regnetx_400mf", "--phi", "60"]],
)
def test_cli_scale_with_an_absurd_phi_is_a_one_line_error(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "nas.cli", "scale", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "-" not in proc.stdout.replace("--", "")
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "above the limit of x1000" in err[0], proc.stderr


def test_cli_scale_within_the_limit_counts_exactly(capsys):
    assert main(["scale", "--base", "regnetx_400mf", "--phi", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    flops = out["complexity"]["flops"] if "complexity" in out else out["flops"]
    assert isinstance(flops, int) and flops > 0
