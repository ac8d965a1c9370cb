"""A small GPT-style character model of names.txt (embedding, pre-LayerNorm residual blocks with causal
self-attention and a GELU MLP, nanoGPT's layout), trained with AdamW while initscope watches every module:

    python examples/watch_char_transformer.py                     # writes runs/watch_char_transformer.initscope
    initscope gui --follow runs/watch_char_transformer.initscope

Options: --steps N (default 3000), --every K (default 100), --save FILE.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import initscope

HERE = Path(__file__).resolve().parent


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.out = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))  # the residual stream: each block adds to it
        return x + self.out(self.gelu(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    def __init__(self, vocab: int, block_size: int = 16, n_embd: int = 48, n_head: int = 4, n_layer: int = 3):
        super().__init__()
        self.tok = nn.Embedding(vocab, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        for name, p in self.named_parameters():  # GPT-2's init: N(0, 0.02), residual projections / sqrt(2 n_layer)
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--save", default=str(Path("runs") / "watch_char_transformer.initscope"))
    args = ap.parse_args(argv)

    names = HERE.parent / "names.txt"
    if not names.exists():
        from initscope.core.data import default_data_path  # the copy inside the installed package

        names = Path(default_data_path())
    text = "." + ".".join(names.read_text().split()) + "."
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text])
    block = 16
    g = torch.Generator().manual_seed(1337)
    torch.manual_seed(1337)
    model = CharGPT(len(chars), block)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    print(f"watching {sum(p.numel() for p in model.parameters()):,} parameters; follow it with:\n"
          f"  initscope gui --follow {args.save}")
    with initscope.watch(model, opt, save=args.save, every=args.every, classes=len(chars)) as scope:
        for _ in range(args.steps):
            ix = torch.randint(0, len(data) - block - 1, (32,), generator=g)
            x = torch.stack([data[i: i + block] for i in ix])
            y = torch.stack([data[i + 1: i + block + 1] for i in ix])
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scope.step(loss)
    print(f"{args.steps:,} steps, last loss {loss.item():.4f}; saved {args.save}")
    for h in scope.hints():
        print("  -", h)


if __name__ == "__main__":
    main()
