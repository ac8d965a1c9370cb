"""What watching costs: `initscope.watch` against the same loop unwatched, a notebook's hand-written hooks,
TensorBoard histograms and wandb.watch, on the lecture's deep net and on the char-level transformer example.

    python benchmarks/bench_watch.py [--steps N] [--rounds R] [--nets mlp,gpt] [--json FILE] [--clock cpu] [--no-warmup]

Candidates (steps/s, the same model, data and batches; one torch thread):
  bare          the loop, nothing collected
  watch         initscope.watch at its default cadence (a full snapshot every 100 steps)
  watch_scalars the default cadence plus the per-step tier (every_step="scalars")
  watch_full    a full snapshot (histograms, every statistic) every step, written to its run file
  watch_full_nofile  the same, kept in memory only (as the hook loop keeps its numbers)
  hooks         a notebook's way: forward hooks keeping every leaf's output (retain_grad), then per layer mean,
                std, saturation and a torch.histc histogram of outputs and gradients, and per parameter
                grad:data and the update, every step, read with .item() / .tolist()
  hooks_same    the same loop collecting what a watch snapshot holds (saturation by kind, dead units, gradient
                means, fixed tanh ranges, every weight matrix's gradient histogram)
  tensorboard   SummaryWriter.add_histogram of every leaf's output and every parameter's gradient, every step
                (only when tensorboard is installed)
  wandb         wandb.watch(model, log="all", log_freq=1), offline (only when wandb is installed)

Candidates run alternately in rounds in one process, so machine drift hits all alike; the ratios are to `bare`
of the same round. Saved files go to a temporary folder. `--clock cpu` times the process's CPU time instead of
the wall clock (every thread counted: the run file's writer too), which a machine shared with other jobs
disturbs far less.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))

from watch_char_transformer import CharGPT  # noqa: E402
from watch_mlp import DeepMLP, build_dataset, words_file  # noqa: E402

import initscope  # noqa: E402


def make_net(name: str):
    """(model, optimizer, batches(step) -> (x, y), loss_fn)"""
    words = words_file().read_text().split()
    chars = sorted(set("".join(words)))
    if name == "mlp":
        stoi = {".": 0, **{c: i + 1 for i, c in enumerate(chars)}}
        x, y = build_dataset(words, stoi)
        torch.manual_seed(0)
        model = DeepMLP(len(stoi))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(1)
        idx = torch.randint(0, len(x), (4096, 32), generator=g)
        return model, opt, lambda k: (x[idx[k % 4096]], y[idx[k % 4096]]), F.cross_entropy
    text = "." + ".".join(words) + "."
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    data = torch.tensor([stoi[c] for c in text])
    torch.manual_seed(0)
    model = CharGPT(len(stoi), 16)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    starts = torch.randint(0, len(data) - 17, (512, 32), generator=g)
    ar = torch.arange(16)

    def batch(k):
        s = starts[k % 512].unsqueeze(1) + ar
        return data[s], data[s + 1]
    return model, opt, batch, lambda out, y: F.cross_entropy(out.flatten(0, 1), y.flatten())


CLOCK = time.perf_counter  # --clock cpu: time.process_time, the CPU time of every thread of the process


def loop(model, opt, batch, loss_fn, steps, after=None):
    t0 = CLOCK()
    for k in range(steps):
        x, y = batch(k)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if after is not None:
            after(loss)
    return steps / (CLOCK() - t0)


def notebook_hooks(model, opt):
    """What a notebook writes to see the lecture's statistics every step: keep outputs, read them after the step."""
    kept = {}
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook(name):
        def f(_m, _i, out):
            o = out if isinstance(out, torch.Tensor) else out[0]
            if o.requires_grad:
                o.retain_grad()
            kept[name] = o
        return f
    handles = [m.register_forward_hook(hook(n)) for n, m in leaves]
    params = [p for p in model.parameters() if p.requires_grad]
    before: list = []
    pre = opt.register_step_pre_hook(lambda *a: before.__setitem__(slice(None), [p.detach().clone() for p in params]))
    stats: list = []

    def after(loss):
        row = {"loss": loss.item()}
        for name, o in kept.items():
            t = o.detach()
            row[name] = (t.mean().item(), t.std().item(), (t.abs() > 0.97).float().mean().item(),
                         torch.histc(t.float(), 50).tolist())
            if o.grad is not None:
                gr = o.grad
                row[name + ".grad"] = (gr.std().item(), torch.histc(gr, 50).tolist())
        for p, b in zip(params, before):
            d = b.std().item()
            row[id(p)] = (p.grad.std().item() / d if d else 0.0, ((p.detach() - b).std().item() / d) if d else 0.0)
        stats.append(len(row))
        kept.clear()
    return after, lambda: [h.remove() for h in handles] + [pre.remove()]


def notebook_hooks_same(model, opt):
    """The notebook's loop made to collect what a watch snapshot holds: per leaf, output mean, std, a histogram
    over [min, max] (tanh over [-1, 1]), saturation by the layer's kind (tanh |t| > 0.97, ReLU t <= 0, GELU
    input < -3) and dead units; the gradient at the output: mean, std, a histogram over +-max |g|; per
    parameter grad mean, grad std, data std and the update; per weight matrix its gradient's histogram."""
    from initscope.core import kinds

    kept = {}
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]

    def hook(name, fam):
        def f(_m, inp, out):
            o = out if isinstance(out, torch.Tensor) else out[0]
            if o.requires_grad:
                o.retain_grad()
            kept[name] = (o, inp[0].detach() if fam == "tail" else None, fam)
        return f
    handles = [m.register_forward_hook(hook(n, kinds.family(type(m).__name__))) for n, m in leaves]
    params = [p for p in model.parameters() if p.requires_grad]
    before: list = []
    pre = opt.register_step_pre_hook(lambda *a: before.__setitem__(slice(None), [p.detach().clone() for p in params]))
    stats: list = []

    def hist(t, lo, hi):
        return torch.histc(t.float(), 50, lo, hi).tolist()

    def after(loss):
        row = {"loss": loss.item()}
        for name, (o, x, fam) in kept.items():
            t = o.detach()
            lo, hi = (-1.0, 1.0) if fam == "tanh" else (t.min().item(), t.max().item())
            sat = kinds.saturated(fam, x, t, 0.97)
            ud = 1 if t.dim() in (4, 5) else t.dim() - 1
            row[name] = (t.mean().item(), t.std().item(), hist(t, lo, hi),
                         (sat.float().mean().item(), sat.movedim(ud, -1).reshape(-1, t.shape[ud]).all(0).sum().item())
                         if sat is not None else None)
            if o.grad is not None:
                g = o.grad
                m = g.abs().max().item()
                row[name + ".grad"] = (g.mean().item(), g.std().item(), hist(g, -m, m))
        for p, b in zip(params, before):
            d = b.std().item()
            g = p.grad
            row[id(p)] = (g.mean().item(), g.std().item(), d, (p.detach() - b).std().item(),
                          hist(g, -g.abs().max().item(), g.abs().max().item()) if p.dim() >= 2 else None)
        stats.append(len(row))
        kept.clear()
    return after, lambda: [h.remove() for h in handles] + [pre.remove()]


def tensorboard_after(model, folder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    writer = SummaryWriter(folder)
    kept = {}
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda _m, _i, o, n=n: kept.__setitem__(n, o if isinstance(o, torch.Tensor)
                                                                              else o[0])) for n, m in leaves]
    step = [0]

    def after(_loss):
        for n, o in kept.items():
            writer.add_histogram(f"act/{n}", o.detach(), step[0])
        for n, p in model.named_parameters():
            if p.grad is not None:
                writer.add_histogram(f"grad/{n}", p.grad, step[0])
        step[0] += 1
    return after, lambda: ([h.remove() for h in handles], writer.close())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--nets", default="mlp,gpt")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: steps per second of the process's CPU time (every thread, the file writer's too); "
                         "steadier than the wall clock on a machine that others load")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="time from the first round (default: one untimed warm-up round of every candidate first)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    from initscope.core import fastreduce

    fastreduce.kernel(wait=True)  # the compiled path, compiled (or loaded from its cache) before any timing
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="bench-watch-")
    results: dict = {}
    for net in args.nets.split(","):
        model, opt, batch, loss_fn = make_net(net)
        loop(model, opt, batch, loss_fn, 30)  # warm up
        rates: dict[str, list[float]] = {}
        skipped = []
        # round -1 is the warm-up, not timed: every candidate once, so one-time costs of the process (the
        # allocator's first growth, first calls of each path) are not charged to the first timed round (measured:
        # its watched candidates ran 0.5-0.8x their later rounds)
        for r in range(-1 if args.warmup else 0, args.rounds):
            def run(name, setup):
                # the garbage a candidate leaves (a full snapshot's objects) is collected before the next one
                # starts, so a collection it triggers is not charged to the next candidate; each candidate's own
                # collections still count
                gc.collect()
                got = setup()
                if got is None:
                    if name not in skipped:
                        skipped.append(name)
                    return
                after, done = got
                rate = loop(model, opt, batch, loss_fn, args.steps if r >= 0 else min(args.steps, 100), after)
                if r >= 0:
                    rates.setdefault(name, []).append(rate)
                done()
            run("bare", lambda: (None, lambda: None))
            for name, kw in (("watch", {}), ("watch_scalars", {"every_step": "scalars"}), ("watch_full", {"every": 1}),
                             ("watch_full_nofile", {"every": 1, "save": False})):
                def setup(kw=kw, name=name):
                    save = os.path.join(tmp, f"{net}-{name}-{r}.initscope") if kw.get("save", True) else None
                    scope = initscope.watch(model, opt, save=save,
                                            every=kw.get("every", 100), every_step=kw.get("every_step"))
                    return scope.step, scope.close
                run(name, setup)
            run("hooks", lambda: notebook_hooks(model, opt))
            run("hooks_same", lambda: notebook_hooks_same(model, opt))
            run("tensorboard", lambda: tensorboard_after(model, os.path.join(tmp, f"tb-{net}-{r}")))
            run("wandb", lambda: wandb_setup(model, tmp))
        bare = rates["bare"]
        out = {}
        for name, rs in rates.items():
            ratio = [a / b for a, b in zip(rs, bare)]
            out[name] = {"steps_per_s": [round(x, 1) for x in rs], "x_bare": [round(x, 3) for x in ratio]}
        for ref in ("hooks", "hooks_same"):
            if ref in rates:
                for full in ("watch_full", "watch_full_nofile"):
                    out[full][f"x_{ref}"] = [round(a / b, 3) for a, b in zip(rates[full], rates[ref])]
        for other in ("tensorboard", "wandb"):
            if other in rates:
                out["watch_full"][f"x_{other}"] = [round(a / b, 3) for a, b in zip(rates["watch_full"], rates[other])]
        out["skipped"] = [f"{s} (not installed)" for s in skipped]
        results[net] = out
        print(f"\n{net}: {sum(p.numel() for p in model.parameters()):,} parameters, {args.steps} steps x {args.rounds} rounds")
        for name, d in out.items():
            if name != "skipped":
                extra = "  ".join(f"{k} {v}" for k, v in d.items() if k.startswith("x_") and k != "x_bare")
                print(f"  {name:<14} {' '.join(f'{x:7.1f}' for x in d['steps_per_s'])} steps/s   "
                      f"x bare {' '.join(f'{x:.2f}' for x in d['x_bare'])}   {extra}")
        if skipped:
            print("  skipped:", ", ".join(out["skipped"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


def wandb_setup(model, tmp):
    try:
        import wandb
    except ImportError:
        return None
    os.environ["WANDB_MODE"] = "offline"
    run = wandb.init(dir=tmp, project="bench", reinit=True)
    wandb.watch(model, log="all", log_freq=1)
    return (lambda loss: wandb.log({"loss": loss.item()})), (lambda: (wandb.unwatch(model), run.finish()))


if __name__ == "__main__":
    main()
