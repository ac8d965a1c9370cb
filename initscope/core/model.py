"""Build the network from a layer stack out of torch.nn modules, and initialise it by policy."""

from __future__ import annotations

import math

import torch
from torch import nn

from initscope.core.config import Config, InitConfig, LayerSpec, validate_stack

_MODULES = {"tanh": nn.Tanh, "relu": nn.ReLU}


class Net(nn.Module):
    """Embedding -> flatten the context -> the layer stack -> logits."""

    def __init__(self, cfg: Config, vocab_size: int):
        super().__init__()
        m = cfg.model
        validate_stack(m.layers, vocab_size)
        self.vocab_size = vocab_size
        self.specs = [LayerSpec(s.kind, s.width, s.bias) for s in m.layers]
        self.embedding = nn.Embedding(vocab_size, m.n_embd)
        width = m.n_embd * m.block_size
        mods: list[nn.Module] = []
        for i, s in enumerate(m.layers):
            if s.kind == "linear":
                out = vocab_size if s.width is None else s.width
                followed_by_bn = i + 1 < len(m.layers) and m.layers[i + 1].kind == "batchnorm"
                # BatchNorm subtracts the mean anyway, so a bias before it is dead weight (its beta takes the role)
                mods.append(nn.Linear(width, out, bias=s.bias and not followed_by_bn))
                width = out
            elif s.kind == "batchnorm":
                mods.append(nn.BatchNorm1d(width, momentum=m.bn_momentum))
            else:
                mods.append(_MODULES[s.kind]())
        self.layers = nn.ModuleList(mods)
        self.names = [f"L{i} {s.title}" for i, s in enumerate(self.specs)]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embedding(idx).flatten(1)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_keep(self, idx: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Forward that also returns every layer's output with retain_grad (only for snapshot steps)."""
        x = self.embedding(idx).flatten(1)
        outs = []
        for layer in self.layers:
            x = layer(x)
            if x.requires_grad:
                x.retain_grad()
            outs.append(x)
        return x, outs

    def named_params(self) -> list[tuple[str, nn.Parameter]]:
        """Parameters named as the panels show them: 'embedding', 'L3 Linear.weight', 'L4 BatchNorm.bias'."""
        out = [("embedding", self.embedding.weight)]
        for name, mod in zip(self.names, self.layers):
            for pname, p in mod.named_parameters(recurse=False):
                out.append((f"{name}.{pname}", p))
        return out

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def count_params(cfg: Config, vocab_size: int) -> int:
    """Parameter count of the net a config builds, without allocating it."""
    m = cfg.model
    total = vocab_size * m.n_embd
    width = m.n_embd * m.block_size
    for i, s in enumerate(m.layers):
        if s.kind == "linear":
            out = vocab_size if s.width is None else s.width
            followed_by_bn = i + 1 < len(m.layers) and m.layers[i + 1].kind == "batchnorm"
            total += width * out + (out if s.bias and not followed_by_bn else 0)
            width = out
        elif s.kind == "batchnorm":
            total += 2 * width
    return total


@torch.no_grad()
def init_weights(net: Net, init: InitConfig, g: torch.Generator) -> None:
    """The whole init policy in one place, drawing every number from the one generator `g`.

    Draw order follows the lecture's notebook (embedding, then each Linear's weight then bias) and
    weights are drawn in its (fan_in, fan_out) layout, so a seed means the same thing there and here.
    """
    net.embedding.weight.copy_(torch.randn(net.embedding.weight.shape, generator=g))
    linears = [i for i, mod in enumerate(net.layers) if isinstance(mod, nn.Linear)]
    out_i = linears[-1]
    bns = [i for i, mod in enumerate(net.layers) if isinstance(mod, nn.BatchNorm1d)]
    ends_in_bn = bool(bns) and bns[-1] > out_i
    for i in linears:
        lin: nn.Linear = net.layers[i]  # type: ignore[assignment]
        fan_in, fan_out = lin.in_features, lin.out_features
        w = torch.randn((fan_in, fan_out), generator=g).T
        if init.scheme == "kaiming":
            # keep each unit's pre-activation at unit variance whatever the fan-in
            w = w / math.sqrt(fan_in)
        if i != out_i:
            # tanh/ReLU shrink what passes through; the gain (5/3, sqrt 2) makes up for it layer after layer
            w = w * init.gain
        elif init.output_scaling and not ends_in_bn:
            # small logits at init: a near-uniform first guess (loss ~ ln vocab), not a confident wrong one
            w = w * init.output_factor
        lin.weight.copy_(w)
        if lin.bias is not None:
            std = init.hidden_bias_std if i != out_i else init.output_bias_std
            # zeros by default; the lecture's early presets start from scaled random biases
            lin.bias.copy_(torch.randn(fan_out, generator=g) * std if std > 0 else torch.zeros(fan_out))
    for i in bns:
        bn: nn.BatchNorm1d = net.layers[i]  # type: ignore[assignment]
        bn.reset_parameters()  # gamma 1, beta 0, running mean 0 / var 1
        if i == bns[-1] and ends_in_bn and init.output_scaling:
            # the stack ends in BatchNorm: its gamma sets the logits' scale (the lecture scales gamma by 0.1)
            bn.weight.mul_(init.output_factor)


def build_net(cfg: Config, vocab_size: int, g: torch.Generator | None = None) -> Net:
    if g is None:
        g = torch.Generator().manual_seed(cfg.train.seed)
    net = Net(cfg, vocab_size)
    init_weights(net, cfg.init, g)
    return net
