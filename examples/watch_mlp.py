"""The lecture's deep net (makemore part 3), written as a plain nn.Module and trained in a plain loop, with
initscope watching it. Follow it live in another terminal:

    python examples/watch_mlp.py                     # writes runs/watch_mlp.initscope
    initscope gui --follow runs/watch_mlp.initscope  # every panel, live

Options: --steps N (default 20000), --every K (snapshot every K steps, default 100), --save FILE, --no-bn.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import initscope

HERE = Path(__file__).resolve().parent


def words_file() -> Path:
    local = HERE.parent / "names.txt"
    if local.exists():
        return local
    from initscope.core.data import default_data_path  # the copy inside the installed package

    return Path(default_data_path())


def build_dataset(words: list[str], stoi: dict[str, int], block_size: int = 3):
    xs, ys = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(xs), torch.tensor(ys)


class DeepMLP(nn.Module):
    """Embedding, then 5 x (Linear 100, BatchNorm1d, Tanh), then the output Linear and its BatchNorm."""

    def __init__(self, vocab: int, block_size: int = 3, n_embd: int = 10, width: int = 100, depth: int = 5,
                 batchnorm: bool = True):
        super().__init__()
        self.emb = nn.Embedding(vocab, n_embd)
        layers: list[nn.Module] = []
        fan_in = n_embd * block_size
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width, bias=not batchnorm)]
            layers += [nn.BatchNorm1d(width)] if batchnorm else []
            layers += [nn.Tanh()]
            fan_in = width
        layers += [nn.Linear(width, vocab, bias=not batchnorm)] + ([nn.BatchNorm1d(vocab)] if batchnorm else [])
        self.net = nn.Sequential(*layers)
        with torch.no_grad():  # the lecture's init: kaiming with the tanh gain; a near-uniform first guess
            linears = [m for m in self.net if isinstance(m, nn.Linear)]
            for lin in linears[:-1]:
                nn.init.normal_(lin.weight, std=(5 / 3) / lin.in_features ** 0.5)
            nn.init.normal_(linears[-1].weight, std=1 / linears[-1].in_features ** 0.5)
            if batchnorm:
                self.net[-1].weight.mul_(0.1)
            else:
                linears[-1].weight.mul_(0.1)

    def forward(self, idx):
        return self.net(self.emb(idx).flatten(1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--save", default=str(Path("runs") / "watch_mlp.initscope"))
    ap.add_argument("--no-bn", action="store_true", help="the deep net without BatchNorm")
    args = ap.parse_args(argv)

    words = words_file().read_text().split()
    random.Random(42).shuffle(words)
    chars = sorted(set("".join(words)))
    stoi = {"." : 0, **{c: i + 1 for i, c in enumerate(chars)}}
    x, y = build_dataset(words[: int(0.9 * len(words))], stoi)
    g = torch.Generator().manual_seed(2147483647)
    model = DeepMLP(len(stoi), batchnorm=not args.no_bn)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    print(f"watching {sum(p.numel() for p in model.parameters()):,} parameters; follow it with:\n"
          f"  initscope gui --follow {args.save}")
    with initscope.watch(model, opt, save=args.save, every=args.every, classes=len(stoi)) as scope:
        for step in range(args.steps):
            ix = torch.randint(0, len(x), (32,), generator=g)
            loss = F.cross_entropy(model(x[ix]), y[ix])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for group in opt.param_groups:  # the lecture's step decay
                group["lr"] = 0.1 if step < 0.75 * args.steps else 0.01
            opt.step()
            scope.step(loss)
    print(f"{args.steps:,} steps, last loss {loss.item():.4f}; saved {args.save}")
    for h in scope.hints():
        print("  -", h)


if __name__ == "__main__":
    main()
