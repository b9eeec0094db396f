"""Training-free (zero-cost) scores: how promising a freshly initialised network looks, from one
batch.

Each score is computed on the network the trainer would train (the config adapted to the dataset,
built with zero-init of the last BN of every residual branch, seeded like the trainer) from ONE
seeded batch of training images (normalised, not augmented). Higher is better for every score here:
that is the direction the papers rank architectures by.

``naswot``    Mellor et al. 2021, "Neural Architecture Search without Training" (the ReLU-code
              version of the paper's revision and BayesWatch/nas-without-training, ``hook_logdet``):
              every ReLU-like activation gives each image a binary code (unit active or not);
              K[i, j] = sum over those layers of (N_A - d_H(c_i, c_j)), the number of units minus
              the Hamming distance of the codes of images i and j; the score is log |det K|. BN in
              training mode (batch statistics).
``synflow``   Tanaka et al. 2020, as a zero-cost proxy in Abdelfattah et al. 2021, "Zero-Cost
              Proxies for Lightweight NAS": every parameter replaced by its absolute value, BN
              layers skipped (the paper's ``synflow``, bn=False), one all-ones input in double
              precision, R = sum of the outputs; score = sum over conv and linear weights of
              |theta * dR/dtheta|.
``snip``      Lee et al. 2019 as in Abdelfattah et al. 2021: sum over conv and linear weights of
              |theta * dL/dtheta|, L the mean cross-entropy of the batch (BN in training mode).
``grad_norm`` Abdelfattah et al. 2021: sum over conv and linear layers of the L2 norm of dL/dW.
``jacob_cov`` Mellor et al. 2021 (first version), as in Abdelfattah et al. 2021: J = d(sum of
              outputs)/dx per image; C = the correlation matrix of the images' J; score = -sum_i
              (log(v_i + k) + 1/(v_i + k)) over C's eigenvalues v_i, k = 1e-5.

With zero-initialised final BN gammas, a residual branch's weights get no loss gradient at init, so
snip and grad_norm measure the stem, the projection shortcuts and the head (as for the model that is
then trained); naswot (forward codes inside the branches) and synflow (BN skipped) see every layer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from spaces.errors import NasError

if TYPE_CHECKING:
    from nas.datasets import Dataset
    from spaces import NetworkConfig

__all__ = [
    "BATCH_SIZE",
    "SCORES",
    "ScoreError",
    "hamming_kernel",
    "jacob_cov_from_jacobians",
    "parse_scores",
    "score_attrs",
    "score_batch",
    "score_config",
    "score_model",
    "scored_model",
]

# name -> what it is (all: higher is better)
SCORES: dict[str, str] = {
    "naswot": "log|det K| of the ReLU-code Hamming kernel (Mellor et al. 2021)",
    "synflow": (
        "sum |theta * dR/dtheta|, |weights|, all-ones input, no BN, float64 (Tanaka et al. 2020)"
    ),
    "snip": (
        "sum |theta * dL/dtheta| over conv/linear weights "
        "(Lee et al. 2019; Abdelfattah et al. 2021)"
    ),
    "grad_norm": "sum over conv/linear layers of ||dL/dW||_2 (Abdelfattah et al. 2021)",
    "jacob_cov": (
        "-sum(log(v + k) + 1/(v + k)) over eigenvalues of the input-Jacobian correlations "
        "(Mellor 2021)"
    ),
}
BATCH_SIZE = 64
# output > 0 iff input > 0
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.Hardswish, nn.GELU)
JACOB_COV_K = 1e-5


class ScoreError(NasError, ValueError):
    """A score that cannot be computed for this network or these names; the message says why."""


# --- the pieces with a closed form ----------------------------------------------------------------
def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """K[i, j] = N_A - d_H(codes[i], codes[j]) for binary codes (bool or 0/1 floats) of shape
    (batch, N_A), in float64.

    With G = C C^T (C in {0, 1}), n_i = G[i, i] and d_H(i, j) = n_i + n_j - 2 G[i, j]: one matrix
    product, exact in float32 while N_A < 2^24 (float64 beyond)."""
    c = codes.reshape(codes.shape[0], -1)
    dtype = torch.float32 if c.shape[1] < 2**24 else torch.float64
    if c.dtype != dtype:
        c = c.to(dtype)
    g = (c @ c.T).double()
    n = g.diagonal()
    return c.shape[1] - n[:, None] - n[None, :] + 2 * g


def jacob_cov_from_jacobians(jacobians: torch.Tensor, k: float = JACOB_COV_K) -> float:
    """-sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the correlation matrix of the rows."""
    j = jacobians.reshape(jacobians.shape[0], -1).double()
    corr = torch.corrcoef(j)
    # an image whose Jacobian is constant: no correlation defined
    if not torch.isfinite(corr).all():
        return float("nan")
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + k) + 1 / (v + k)).sum())


# --- scores of a module ---------------------------------------------------------------------------
def _weighted_layers(model: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple | list) else out


def score_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    names: Iterable[str] = tuple(SCORES),
) -> dict[str, float]:
    """The scores `names` of `model` on the batch (x, y); y (class labels) is needed by snip and
    grad_norm.

    One forward pass in training mode serves naswot, snip, grad_norm and jacob_cov (one backward for
    the loss, one for the input Jacobian); synflow runs on float64 |parameters| through torch.func.
    The model's parameters are not changed; its BN running statistics are (a training-mode forward,
    as in the papers)."""
    names = _check_names(names)
    lossy = [n for n in ("snip", "grad_norm") if n in names]
    if lossy and y is None:
        raise ScoreError(f"{' and '.join(lossy)} need the batch's labels")
    out: dict[str, float] = {}
    if "synflow" in names:
        out["synflow"] = _synflow(model, tuple(x.shape[1:]), x.device)
    rest = [n for n in names if n != "synflow"]
    if rest:
        was_training = model.training
        model.train()
        try:
            out.update(_batch_scores(model, x, y, rest))
        finally:
            model.train(was_training)
    return {n: out[n] for n in names}


def _batch_scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, names: list[str]
) -> dict[str, float]:
    out: dict[str, float] = {}
    kernel: list[torch.Tensor] = []
    hooks = []
    if "naswot" in names:

        def collect(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            o = output.detach()
            if o.dim() == 4 and o.is_contiguous(memory_format=torch.channels_last):
                o = o.permute(0, 2, 3, 1)  # memory order: the flattening below is then a view
            # o > 0 written straight as 0/1 floats: one pass where (o > 0).float() takes two
            codes = torch.empty(o.shape, dtype=torch.float32, device=o.device)
            k = hamming_kernel(torch.gt(o, 0, out=codes))
            kernel[:] = [kernel[0] + k] if kernel else [k]

        hooks = [
            m.register_forward_hook(collect) for m in model.modules() if isinstance(m, ACTIVATIONS)
        ]
        if not hooks:
            raise ScoreError(
                f"naswot needs ReLU-like activation modules; {type(model).__name__} has none"
            )
    lossy = "snip" in names or "grad_norm" in names
    jacobian = "jacob_cov" in names
    try:
        with torch.set_grad_enabled(lossy or jacobian):
            xin = x.detach().clone().requires_grad_(jacobian)
            logits = _logits(model(xin))
    finally:
        for h in hooks:
            h.remove()
    if "naswot" in names:
        out["naswot"] = float(torch.linalg.slogdet(kernel[0])[1])
    if lossy:
        if y is None:  # score_model refuses this before the forward pass
            raise ScoreError("snip and grad_norm need the batch's labels")
        weights = [m.weight for m in _weighted_layers(model)]
        raw = torch.autograd.grad(
            F.cross_entropy(logits, y), weights, retain_graph=jacobian, allow_unused=True
        )
        grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, raw, strict=True)]
        if "snip" in names:
            out["snip"] = float(
                sum(
                    (w.detach() * g).abs().sum().double()
                    for w, g in zip(weights, grads, strict=True)
                )
            )
        if "grad_norm" in names:
            out["grad_norm"] = float(sum(g.norm().double() for g in grads))
    if jacobian:
        (jac,) = torch.autograd.grad(logits.sum(), xin)
        out["jacob_cov"] = jacob_cov_from_jacobians(jac)
    return out


def _synflow(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> float:
    """Synflow: float64 |parameters| (torch.func, the model is untouched), every BN layer bypassed,
    eval mode (no dropout), one all-ones input."""
    from torch.func import functional_call

    weights = [
        f"{name}.weight" if name else "weight"
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    params = {
        k: p.detach().abs().double().requires_grad_(k in weights)
        for k, p in model.named_parameters()
    }
    buffers = {k: b.double() if b.is_floating_point() else b for k, b in model.named_buffers()}
    bypass = [
        m.register_forward_hook(lambda module, inputs, output: inputs[0])
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    was_training = model.training
    model.eval()
    try:
        ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
        total = _logits(functional_call(model, {**params, **buffers}, (ones,))).sum()
    finally:
        for h in bypass:
            h.remove()
        model.train(was_training)
    used = [k for k in weights if k in params]
    grads = torch.autograd.grad(total, [params[k] for k in used], allow_unused=True)
    return float(
        sum(
            (params[k].detach() * g).abs().sum()
            for k, g in zip(used, grads, strict=True)
            if g is not None
        )
    )


def _check_names(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    bad = [n for n in names if n not in SCORES]
    if bad:
        raise ScoreError(f"unknown score {bad[0]!r}; valid: {', '.join(SCORES)}")
    if not names:
        raise ScoreError(f"no score asked for; valid: {', '.join(SCORES)}")
    return names


def parse_scores(text: str | Sequence[str]) -> list[str]:
    """'naswot,synflow' -> ['naswot', 'synflow'], checked."""
    return _check_names(
        x.strip() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()
    )


# --- scores of a config ---------------------------------------------------------------------------
def score_batch(
    dataset: Dataset,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` training images drawn with `seed` (normalised with the dataset's mean and std)
    and labels."""
    n = len(dataset.train_y)
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(batch_size, n)]
    mean = torch.tensor(dataset.mean).view(1, -1, 1, 1) * 255
    std = torch.tensor(dataset.std).view(1, -1, 1, 1) * 255
    x = (dataset.train_x[idx].float() - mean) / std
    return x.to(device), dataset.train_y[idx].to(device)


def scored_model(
    config: NetworkConfig, dataset: Dataset, seed: int = 0, device: str | torch.device = "cpu"
) -> nn.Module:
    """The network exactly as the trainer initialises it: adapted to the dataset, seeded, zero final
    gammas."""
    from nas.trainer import adapt_config
    from spaces import build_model

    torch.manual_seed(seed)
    return build_model(adapt_config(config, dataset), zero_init_last=True).to(device)


def score_config(
    config: NetworkConfig,
    dataset: Dataset,
    names: Iterable[str] = tuple(SCORES),
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
    threads: int | None = None,
    batch: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """The scores of `config`'s freshly initialised network (seed `seed`) on one batch (seed
    `seed`)."""
    from nas.trainer import resolve_device, to_memory_format

    dev = resolve_device(device)
    if dev.type == "cpu" and threads:
        torch.set_num_threads(threads)
    x, y = batch if batch is not None else score_batch(dataset, batch_size, seed, dev)
    # as the trainer runs it
    model = to_memory_format(scored_model(config, dataset, seed, dev), torch.channels_last)
    return score_model(model, x.contiguous(memory_format=torch.channels_last), y, names)


def score_attrs(
    config: NetworkConfig,
    dataset: Dataset,
    names: Iterable[str] = tuple(SCORES),
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    device: str = "cpu",
    threads: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """What a trial records: ``score_<name>`` for each score (None where it is not finite),
    ``score_batch``, ``score_seconds``; a failure is recorded as ``score_error`` instead of
    raised."""
    start = clock()
    try:
        values = score_config(config, dataset, names, seed, batch_size, device, threads)
    except Exception as e:  # a score must never cost the trial its training result
        message = (str(e).strip().splitlines() or [""])[0]
        return {"score_error": f"{type(e).__name__}: {message}"[:500]}
    attrs: dict[str, Any] = {
        f"score_{k}": (v if math.isfinite(v) else None) for k, v in values.items()
    }
    attrs.update(score_batch=batch_size, score_seconds=round(clock() - start, 4))
    return attrs
