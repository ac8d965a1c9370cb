"""A memory estimate for a config, checked before anything is allocated.

Configs inside the schema's limits can still ask for far more than a machine has: 2,000 layers of
Linear(4096) are 134 GB of weights, a batch of 65,536 at width 4,096 is 1 GB per layer output. Allocating
first ends in a MemoryError traceback (or the OOM killer); estimating first gives one line.

The estimate is deliberately simple and errs high (float32 everywhere, int64 indices):
- the runtime: RUNTIME_OVERHEAD for torch's kernels, allocator caches and thread pools (measured ~120 MB
  above `import torch` for the lecture's deep net, whose tensors are ~20 MB);
- parameters + their gradients (plain SGD keeps no other state) + BatchNorm running statistics;
- a training step: each layer's output, its gradient and what autograd saves, for a batch; on snapshot
  steps also the concatenated copies, masks and int64 histogram bins `collect` makes per activation column;
- evaluation: two layer outputs of EVAL_CHUNK examples at the widest layer (no grad);
- the dataset: (block_size + 1) int64 per example, twice (the build's temporaries);
- diagnostics' one-hot sum tables (column -> layer, element -> vector), bounded by ONE_HOT_MAX each.

Callers: the CLI `run` and `sweep` (`--max-memory`), the GUI preview, the training sweeps.
"""

from __future__ import annotations

import os
import re

from initscope.core.config import ACTIVATIONS, Config
from initscope.core.errors import UserError

# examples per forward pass when a split is evaluated (trainer.mean_loss, BatchNorm calibration): it exists to bound
# that pass's memory, which estimate_bytes counts, so it is defined here, in the module without torch
EVAL_CHUNK = 16384
DEFAULT_FRACTION = 0.5  # of physical memory: leave the rest to the OS, the GUI and other programs
FLOAT, INDEX = 4, 8
RUNTIME_OVERHEAD = 256 * 2**20
ONE_HOT_MAX = 2**20  # elements of diagnostics' one-hot sum tables (float64); larger nets sum by index instead
SNAPSHOT_BYTES = 40  # per activation column and example in `collect`: cat'ed outputs and grads, |x|, mask, bins


def _widths(cfg: Config, vocab_size: int) -> tuple[int, list[int]]:
    """(input width, each flat layer's output width: residual blocks' branch layers and additions included)."""
    return cfg.model.n_embd * cfg.model.block_size, [r.width for r in cfg.model.resolve(vocab_size)]


def n_parameters(cfg: Config, vocab_size: int) -> int:
    """Parameters of the net the config builds, exactly as Net builds it (without torch)."""
    total = vocab_size * cfg.model.n_embd
    for r in cfg.model.resolve(vocab_size):
        if r.kind == "linear":
            total += r.fan_in * r.width + (r.width if r.bias else 0)
        elif r.kind in ("batchnorm", "layernorm"):
            total += 2 * r.width  # gamma and beta
        elif r.kind == "rmsnorm":
            total += r.width  # gamma only
    return total


def estimate_bytes(cfg: Config, n_examples: int, vocab_size: int = 27, *, eval_chunk: int = EVAL_CHUNK) -> int:
    """Bytes a run of `cfg` on `n_examples` examples (all splits) with `vocab_size` tokens needs at its peak.

    Counts parameters, gradients, activations for one training batch (snapshot steps), activations for an
    evaluation chunk, and the dataset tensors; see the module docstring. Errs high, never low.
    """
    inp, outs = _widths(cfg, vocab_size)
    params = n_parameters(cfg, vocab_size)
    flat = cfg.model.resolve(vocab_size)
    bn = sum(2 * r.width for r in flat if r.kind == "batchnorm")
    weights = (2 * params + bn) * FLOAT  # values and gradients; BatchNorm's running mean/var
    b = cfg.train.batch_size
    per_example = inp + sum(outs) + vocab_size  # embedding output, every layer's output, the softmax
    act_outs = sum(r.width for r in flat if r.kind in ACTIVATIONS)
    # output, gradient and autograd's saved copy of each; on snapshot steps collect's temporaries
    train = b * (3 * per_example * FLOAT + act_outs * SNAPSHOT_BYTES)
    widest = max([inp, vocab_size, *outs])
    evaluation = 2 * min(eval_chunk, max(n_examples, 1)) * widest * FLOAT
    data = 2 * n_examples * (cfg.model.block_size + 1) * INDEX
    tables = 2 * ONE_HOT_MAX * 8  # diagnostics' two one-hot sum tables at their largest (issue 20: uncounted)
    return int(RUNTIME_OVERHEAD + weights + max(train, evaluation) + data + tables)


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_limit() -> int | None:
    """DEFAULT_FRACTION of physical memory; None where the platform cannot say (then nothing is refused)."""
    total = physical_memory()
    return None if total is None else int(total * DEFAULT_FRACTION)


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GB', '100000' (bytes) -> bytes (binary units). Bad text is a UserError."""
    m = _SIZE.match(str(text))
    if not m:
        raise UserError(f"memory size {text!r}: expected a number with an optional unit, e.g. 4G or 512M")
    n = float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower())
    if n < 1:
        raise UserError(f"memory size {text!r}: must be positive")
    return int(n)


def check_memory(cfg: Config, n_examples: int, limit: int | None = None, vocab_size: int = 27) -> int:
    """Raise UserError when `estimate_bytes(cfg, n_examples, vocab_size)` exceeds `limit` bytes
    (default: `default_limit()`, half of physical memory); otherwise return the estimate.

    Signature for callers: check_memory(cfg, n_examples, limit=None, vocab_size=27) -> int.
    """
    need = estimate_bytes(cfg, n_examples, vocab_size)
    if limit is None:
        limit = default_limit()
    if limit is not None and need > limit:
        widths = [s.width for s in cfg.model.layers if s.kind == "linear" and s.width]
        raise UserError(
            f"this run needs about {format_bytes(need)} of memory (limit {format_bytes(limit)}): "
            f"{n_parameters(cfg, vocab_size):,} parameters, batch {cfg.train.batch_size}, "
            f"{len(cfg.model.layers)} layers up to width {max(widths, default=vocab_size)}; "
            "use a smaller net or batch, or raise --max-memory")
    return need


def check_dataset_memory(cfg: Config, data, limit: int | None = None) -> int:
    """check_memory for a loaded Dataset (the GUI preview, the training sweeps): its examples and vocabulary."""
    return check_memory(cfg, sum(data.counts().values()), limit, data.vocab.size)
