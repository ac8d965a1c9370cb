"""Training throughput on the lecture's deep net: initscope's trainer against the lecture's loop and a bare torch loop.

    python benchmarks/bench_train.py [--steps N] [--rounds R] [--json FILE]

scalars_every_step: the default cadence plus the per-step tier (diag.step_stats); every_step: a full
snapshot (histograms included) every step.

Candidates run alternately in rounds in one process (one torch thread), so machine drift hits all alike.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from initscope.core.config import preset
from initscope.core.data import load_dataset
from initscope.core.trainer import Trainer


class LLinear:  # the lecture's hand-written layers (makemore part 3), as the reference loop uses them
    def __init__(self, fan_in, fan_out, g, bias=True):
        self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in ** 0.5
        self.bias = torch.zeros(fan_out) if bias else None

    def __call__(self, x):
        self.out = x @ self.weight
        if self.bias is not None:
            self.out += self.bias
        return self.out

    def parameters(self):
        return [self.weight] + ([] if self.bias is None else [self.bias])


class LBatchNorm1d:
    def __init__(self, dim, eps=1e-5, momentum=0.1):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
        self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

    def __call__(self, x):
        xmean, xvar = x.mean(0, keepdim=True), x.var(0, keepdim=True)
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
        self.out = self.gamma * xhat + self.beta
        with torch.no_grad():
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class LTanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


def lecture_loop(data, steps, bn=True):
    g = torch.Generator().manual_seed(2147483647)
    n_embd, n_hidden, vocab = 10, 100, data.vocab.size
    C = torch.randn((vocab, n_embd), generator=g)
    layers = []
    fan = n_embd * 3
    for _ in range(5):
        layers += [LLinear(fan, n_hidden, g, bias=not bn)] + ([LBatchNorm1d(n_hidden)] if bn else []) + [LTanh()]
        fan = n_hidden
    layers += [LLinear(fan, vocab, g, bias=not bn)] + ([LBatchNorm1d(vocab)] if bn else [])
    params = [C] + [p for layer in layers for p in layer.parameters()]
    for p in params:
        p.requires_grad = True
    xtr, ytr = data.splits["train"]
    lossi, ud = [], []
    for i in range(steps):
        ix = torch.randint(0, xtr.shape[0], (32,), generator=g)
        x = C[xtr[ix]].view(32, -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, ytr[ix])
        for layer in layers:
            layer.out.retain_grad()
        for p in params:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < 150000 else 0.01
        for p in params:
            p.data += -lr * p.grad
        lossi.append(loss.log10().item())
        with torch.no_grad():
            ud.append([((lr * p.grad).std() / p.data.std()).log10().item() for p in params])


def bare_loop(data, steps):
    cfg = preset("deep-bn")
    t = Trainer(cfg, data)  # only to build the same torch.nn net; the loop below is plain torch
    net, g = t.net, t.gen
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    xtr, ytr = data.splits["train"]
    for _ in range(steps):
        ix = torch.randint(0, xtr.shape[0], (32,), generator=g)
        loss = F.cross_entropy(net(xtr[ix]), ytr[ix])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def initscope_loop(data, steps, name="deep-bn", every=None, step_stats=False):
    cfg = preset(name)
    cfg.train.steps = steps
    if every is not None:
        cfg.diag.snapshot_every = every
    cfg.diag.step_stats = step_stats
    Trainer(cfg, data).train(lambda p: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="steps per candidate per round (default 600: "
                    "about 20 s in all here, 33 s on a loaded day)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset()
    cands = {
        "lecture": lambda n: lecture_loop(data, n),
        "bare": lambda n: bare_loop(data, n),
        "default": lambda n: initscope_loop(data, n),
        "every_step": lambda n: initscope_loop(data, n, every=1),
        "scalars_every_step": lambda n: initscope_loop(data, n, step_stats=True),
        "nobn_default": lambda n: initscope_loop(data, n, "deep-nobn"),
    }
    for fn in cands.values():
        fn(50)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(args.rounds):
        for k, fn in cands.items():
            t0 = time.perf_counter()
            fn(args.steps)
            times[k].append(time.perf_counter() - t0)
    sps = {k: args.steps / min(v) for k, v in times.items()}  # best round: least disturbed by the machine
    print(f"{'candidate':<19} {'steps/s':>9} {'x bare':>7} {'x lecture':>10}")
    for k, v in sps.items():
        print(f"{k:<19} {v:>9.0f} {v / sps['bare']:>7.2f} {v / sps['lecture']:>10.2f}")
    targets = {"default >= 0.9 x bare": sps["default"] >= 0.9 * sps["bare"],
               "default >= 2 x lecture": sps["default"] >= 2 * sps["lecture"],
               "every_step >= 1 x lecture": sps["every_step"] >= sps["lecture"],
               "scalars_every_step >= 1.5 x lecture": sps["scalars_every_step"] >= 1.5 * sps["lecture"]}
    for k, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {k}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps_per_sec": sps, "steps": args.steps, "rounds": args.rounds, "targets": targets,
                       "torch": torch.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
