"""A small CNN on scikit-learn's 8x8 handwritten digits (shipped with the package: no download), watched by
initscope. Needs the examples extra: pip install "initscope[examples]" (scikit-learn).

    python examples/watch_cnn.py                     # writes runs/watch_cnn.initscope
    initscope gui --follow runs/watch_cnn.initscope

Options: --steps N (default 1500), --every K (default 50), --save FILE.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import initscope


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.act2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, 2)
        x = self.act2(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--save", default=str(Path("runs") / "watch_cnn.initscope"))
    args = ap.parse_args(argv)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit('watch_cnn.py needs scikit-learn: pip install "initscope[examples]"') from None

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"watching {sum(p.numel() for p in model.parameters()):,} parameters; follow it with:\n"
          f"  initscope gui --follow {args.save}")
    with initscope.watch(model, opt, save=args.save, every=args.every, classes=10) as scope:
        for _ in range(args.steps):
            ix = torch.randint(0, len(x), (64,), generator=g)
            loss = F.cross_entropy(model(x[ix]), y[ix])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scope.step(loss)
    with torch.no_grad():
        acc = (model.eval()(x).argmax(1) == y).float().mean().item()
    print(f"{args.steps:,} steps, last loss {loss.item():.4f}, accuracy {acc:.1%} (training set); saved {args.save}")
    for h in scope.hints():
        print("  -", h)


if __name__ == "__main__":
    main()
