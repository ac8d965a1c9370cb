"""Build the network from a layer stack out of torch.nn modules, and initialise it by policy."""

from __future__ import annotations

import math

import torch
from torch import nn

from initscope.core.config import NORMS, Config, InitConfig, ResolvedLayer

_MODULES = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid}


class LayerOutputs(list):
    """Every flat entry's output, in order, and `input`: what the first entry saw (the flattened embedding)."""

    input: torch.Tensor


class ResidualBlock(nn.Module):
    """x + scale * branch(x). The branch's modules also appear one by one in Net.flat, so the diagnostics see
    each branch layer's output and then the stream after the addition."""

    def __init__(self, branch: list[nn.Module], scale: float):
        super().__init__()
        self.branch = nn.Sequential(*branch)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.branch(x)


def _module(r: ResolvedLayer, bn_momentum: float) -> nn.Module:
    if r.kind == "linear":
        return nn.Linear(r.fan_in, r.width, bias=r.bias)
    if r.kind == "batchnorm":
        return nn.BatchNorm1d(r.width, momentum=bn_momentum)
    if r.kind == "layernorm":
        return nn.LayerNorm(r.width)  # elementwise affine: gamma 1, beta 0 at init
    if r.kind == "rmsnorm":
        return nn.RMSNorm(r.width)  # eps None: torch.finfo(dtype).eps, torch's default
    return _MODULES[r.kind]()


class Net(nn.Module):
    """Embedding -> flatten the context -> the layer stack -> logits.

    `layers` holds one module per top-level entry of the stack (a ResidualBlock for a residual block);
    `flat` is the resolved flat stack (ResolvedLayer, module) that the diagnostics walk: a residual block's
    branch layers, then the block itself. `specs` and `names` follow `flat`."""

    def __init__(self, cfg: Config, vocab_size: int):
        super().__init__()
        m = cfg.model
        resolved = m.resolve(vocab_size)  # validates
        self.vocab_size = vocab_size
        self.specs: list[ResolvedLayer] = resolved
        self.embedding = nn.Embedding(vocab_size, m.n_embd)
        mods: list[nn.Module] = []
        flat_mods: list[nn.Module] = []
        branch: list[nn.Module] = []
        for r in resolved:
            if r.kind == "residual":
                block = ResidualBlock(branch, r.scale)
                mods.append(block)
                flat_mods.append(block)
                branch = []
                continue
            mod = _module(r, m.bn_momentum)
            flat_mods.append(mod)
            (branch if r.block is not None else mods).append(mod)
        self.layers = nn.ModuleList(mods)
        self.__dict__["flat"] = list(zip(resolved, flat_mods))  # plain list: the modules are registered above
        self.names = [r.name for r in resolved]
        self._branch_starts = {r.block_start for r in resolved if r.kind == "residual"}

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embedding(idx).flatten(1)
        for layer in self.layers:
            x = layer(x)
        return x

    def run_flat(self, x: torch.Tensor, retain=None) -> tuple[torch.Tensor, LayerOutputs]:
        """The stack entry by entry from the flattened embedding x, keeping every entry's output (a residual
        entry's is the stream after the addition). retain(spec) says whose output keeps its gradient."""
        outs = LayerOutputs()
        outs.input = x
        stream = x
        for r, mod in self.flat:
            if r.kind == "residual":
                x = stream + r.scale * x
            else:
                if r.index in self._branch_starts:
                    stream = x  # the branch starts here: its input is the stream
                x = mod(x)
            if retain is not None and retain(r) and x.requires_grad:
                x.retain_grad()
            outs.append(x)
        return x, outs

    def forward_keep(self, idx: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward that also returns every layer's output with retain_grad (only for snapshot steps)."""
        return self.run_flat(self.embedding(idx).flatten(1), lambda r: True)

    def named_params(self) -> list[tuple[str, nn.Parameter]]:
        """Parameters named as the panels show them: 'embedding', 'L3 Linear.weight', 'L4 BatchNorm.bias'."""
        out = [("embedding", self.embedding.weight)]
        for name, (_, mod) in zip(self.names, self.flat):
            for pname, p in mod.named_parameters(recurse=False):
                out.append((f"{name}.{pname}", p))
        return out

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def count_params(cfg: Config, vocab_size: int) -> int:
    """Parameter count of the net a config builds, without allocating it."""
    from initscope.core.budget import n_parameters

    return n_parameters(cfg, vocab_size)


LSUV_BATCH = 512  # examples LSUV measures each layer's output variance on


@torch.no_grad()
def init_weights(net: Net, init: InitConfig, g: torch.Generator, x: torch.Tensor | None = None) -> None:
    """The whole init policy in one place, drawing every number from the one generator `g`.

    Draw order follows the lecture's notebook (embedding, then each Linear's weight then bias) and
    weights are drawn in its (fan_in, fan_out) layout, so a seed means the same thing there and here.
    x: the batch of contexts LSUV calibrates on (the first LSUV_BATCH training examples); without it, LSUV
    draws random contexts from `g`.
    """
    net.embedding.weight.copy_(torch.randn(net.embedding.weight.shape, generator=g))
    linears = [(r, mod) for r, mod in net.flat if r.kind == "linear"]
    norms = [(r, mod) for r, mod in net.flat if r.kind in NORMS]
    out_i = next(r.index for r, _ in linears if r.is_output)
    ends_in_norm = bool(norms) and norms[-1][0].index > out_i
    n_blocks = sum(r.kind == "residual" for r, _ in net.flat)
    for r, lin in linears:
        fan_in, fan_out = lin.in_features, lin.out_features
        if init.scheme in ("kaiming", "naive"):
            w = torch.randn((fan_in, fan_out), generator=g).T
            if init.scheme == "kaiming":
                # keep each unit's pre-activation at unit variance whatever the fan-in
                w = w / math.sqrt(fan_in)
        else:
            w = torch.empty(fan_out, fan_in)
            if init.scheme == "torch-default":
                # what nn.Linear.reset_parameters draws: kaiming-uniform with a = sqrt 5, i.e. U(+-1/sqrt(fan_in)),
                # variance 1/(3 fan_in): the init most people get, a third of kaiming's (no gain for the activation)
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
            elif init.scheme == "xavier-normal":
                # Glorot & Bengio: variance 2/(fan_in + fan_out) balances the forward and the backward pass
                nn.init.xavier_normal_(w, generator=g)
            elif init.scheme == "xavier-uniform":
                nn.init.xavier_uniform_(w, generator=g)  # the same variance from U(+-sqrt(6/(fan_in + fan_out)))
            else:
                # orthogonal (and LSUV's start): every singular value 1, so a linear chain keeps norms exactly
                # (Saxe et al. 2014); per unit the same q map as variance 1/max(fan_in, fan_out)
                nn.init.orthogonal_(w, generator=g)
        if not r.is_output:
            if init.scheme != "lsuv":  # LSUV sets each layer's scale from data instead
                # tanh/ReLU shrink what passes through; the gain (5/3, sqrt 2) makes up for it layer after layer
                w = w * init.gain
        elif init.output_scaling and not ends_in_norm:
            # small logits at init: a near-uniform first guess (loss ~ ln vocab), not a confident wrong one
            w = w * init.output_factor
        if r.branch_last_linear and init.residual_scaling == "gpt2" and init.scheme != "lsuv":
            # GPT-2: each block adds to the stream; 1/sqrt(2 n_blocks) keeps the sum of n_blocks additions O(1)
            w = w / math.sqrt(2 * n_blocks)
        zero = r.branch_last_linear and init.residual_scaling == "zero"
        if zero:
            # every block starts as the identity (Fixup / "ReZero"-style): the stream is the stem's output
            w = torch.zeros_like(w)
        lin.weight.copy_(w)
        if lin.bias is not None:
            if init.scheme == "torch-default":
                # nn.Linear's bias rule: U(+-1/sqrt(fan_in))
                bound = 1 / math.sqrt(fan_in)
                b = torch.empty(fan_out).uniform_(-bound, bound, generator=g)
            else:
                std = init.hidden_bias_std if not r.is_output else init.output_bias_std
                # zeros by default; the lecture's early presets start from scaled random biases
                b = torch.randn(fan_out, generator=g) * std if std > 0 else torch.zeros(fan_out)
            lin.bias.copy_(torch.zeros(fan_out) if zero else b)
    for r, norm in norms:
        norm.reset_parameters()  # gamma 1, beta 0 (BatchNorm: running mean 0 / var 1)
        if r.index == norms[-1][0].index and ends_in_norm and init.output_scaling:
            # the stack ends in a norm: its gamma sets the logits' scale (the lecture scales gamma by 0.1)
            norm.weight.mul_(init.output_factor)
    if init.scheme == "lsuv":
        if x is None:
            x = torch.randint(0, net.vocab_size, (LSUV_BATCH, _context(net)), generator=g)
        _lsuv(net, init, x.to(net.embedding.weight.device), n_blocks)


def _context(net: Net) -> int:
    first = net.flat[0][0] if net.flat else None
    return (first.fan_in if first else net.embedding.embedding_dim) // net.embedding.embedding_dim


LSUV_TOL, LSUV_ITERS = 1e-3, 10


def _lsuv(net: Net, init: InitConfig, x: torch.Tensor, n_blocks: int) -> None:
    """Mishkin & Matas 2016: layer by layer from the input, scale each hidden Linear so its output has unit
    variance on the batch (a gpt2-scaled branch end: 1/(2 n_blocks)); the output layer keeps its factor.
    BatchNorm's running statistics are put back afterwards (the calibrating forwards run in training mode)."""
    saved = {k: v.clone() for k, v in net.named_buffers()}
    was = net.training
    net.train()
    h = net.embedding(x).flatten(1)
    for r, lin in net.flat:
        if r.kind != "linear" or r.is_output or (r.branch_last_linear and init.residual_scaling == "zero"):
            continue
        target = 1.0 / math.sqrt(2 * n_blocks) if r.branch_last_linear and init.residual_scaling == "gpt2" else 1.0
        for _ in range(LSUV_ITERS):
            out = net.run_flat(h)[1][r.index]
            std = float(out.std())  # init time only, not a hot path
            if not math.isfinite(std) or std < 1e-12 or abs(std / target - 1) < LSUV_TOL:
                break
            lin.weight.mul_(target / std)
            if lin.bias is not None:
                lin.bias.mul_(target / std)
    for k, v in net.named_buffers():
        v.copy_(saved[k])
    net.train(was)


def build_net(cfg: Config, vocab_size: int, g: torch.Generator | None = None,
              x: torch.Tensor | None = None) -> Net:
    if g is None:
        g = torch.Generator().manual_seed(cfg.train.seed)
    net = Net(cfg, vocab_size)
    init_weights(net, cfg.init, g, x)
    return net
