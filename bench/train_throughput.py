"""Benchmark: samples per second of the fts trainer (`fts.train.loop.fit`) against a bare
PyTorch loop on the same model, data and batch size, in the same run (target: >= 0.9x).
Also prints CPU utilisation (all cores = 100 % x cores) during each. `--bf16` runs both under
bf16 autocast (the loss in fp32, as fts does). `--contended` times the trainer beside a
CPU-bound competitor on every core, with the default threads and with one; `--channels` the
per-sample cost of both channel modes (`--features 100 --budget 20M --samples 8 --batch 4`:
a100 at 20M)."""

from __future__ import annotations

# ruff: noqa: I001 - `import fts` comes first: it sets OMP_WAIT_POLICY before torch loads OpenMP
import fts  # noqa: F401
import argparse
import dataclasses
import multiprocessing
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import psutil
import torch

from fts.train.arch import select_architecture
from fts.train.config import TrainConfig
from fts.train.device import pick_device, use_all_cores
from fts.train.loop import fit


def data(n: int, ctx: int, features: int, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(size=(n + ctx, features)), axis=0).astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(base, ctx, axis=0).transpose(0, 2, 1)[:n]
    return SimpleNamespace(windows=windows, labels=(rng.random(n) < 0.3).astype(np.int8))


def bare_loop(model: torch.nn.Module, train: SimpleNamespace, batch: int, epochs: int,
              device: torch.device, bf16: bool = False) -> None:
    """The reference: the plainest correct loop (shuffle, forward, BCE, backward, AdamW)."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y_all = train.labels.astype(np.float32)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(y_all))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            x = torch.from_numpy(np.ascontiguousarray(train.windows[idx])).to(device)
            y = torch.from_numpy(y_all[idx]).to(device)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss_fn(logits.float(), y).backward()
            opt.step()


def measure(fn, device: torch.device) -> tuple[float, float]:
    """Wall seconds of fn() up to the end of its last GPU kernel, and the CPU utilisation."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    psutil.cpu_percent(None)
    t0 = time.perf_counter()
    fn()
    sync()  # CUDA runs asynchronously: stop the clock when the queued work is done
    seconds = time.perf_counter() - t0
    return seconds, psutil.cpu_percent(None)


def _spin(stop: Any) -> None:  # pragma: no cover - runs in a competitor process
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def contended(args: argparse.Namespace) -> None:
    """The fts trainer while a CPU-bound competitor occupies every core: samples/s with the
    default threads (every core of the affinity) and with one thread."""
    cores = use_all_cores()
    device = pick_device()
    from models_torch import PatchTST

    cfg = select_architecture(args.budget, args.features, args.ctx)
    train, val = data(args.samples, args.ctx, args.features), data(64, args.ctx, args.features, 1)

    def run() -> None:
        torch.manual_seed(0)
        tc = TrainConfig(max_epochs=args.epochs, patience=args.epochs, batch_size=args.batch,
                         grad_clip=0.0, seed=0)
        fit(PatchTST(cfg), tc, train, val, device, args.batch)

    n = args.samples * args.epochs
    rates = {}
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    competitors = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(cores)]
    for proc in competitors:
        proc.start()
    try:
        time.sleep(1.0)  # let the competitors take the cores
        for label, threads in (("default", cores), ("one thread", 1)):
            torch.set_num_threads(threads)
            run()  # warm-up at this thread count
            seconds, _ = measure(run, device)
            rates[label] = n / seconds
    finally:
        stop.set()
        for proc in competitors:
            proc.join(timeout=5)
        torch.set_num_threads(cores)
    best = max(rates.values())
    print(f"contended: {cores} competitor processes, one per core; model d{cfg.d_model} x "
          f"{cfg.n_layers} layers, {args.features} features, batch {args.batch}")
    for label, rate in rates.items():
        print(f"  {label:<11} ({cores if label == 'default' else 1} threads) {rate:8.1f} samples/s")
    print(f"  ratio default / best {rates['default'] / best:6.2f}x (target >= 0.8x)")


MIXED_SAMPLES = 16  # the mixed model trains on 16x the samples (about C times cheaper)


def channel_modes(args: argparse.Namespace) -> None:
    """Per-sample training cost of both channel modes at one tier width and budget, measured
    on a few optimizer steps of the real model, beside the probe's estimate."""
    from fts.train.estimate import probe_seconds_per_sample
    from models_torch import PatchTST, PatchTSTConfig, count_parameters, train_flops_per_sample

    cores = use_all_cores()
    device = pick_device()
    val = data(2, args.ctx, args.features, 1)
    print(f"channel modes: {args.features} features, budget {args.budget}, ctx {args.ctx}, "
          f"batch {args.batch}, device {device.type}, {cores} threads; one epoch of "
          f"{args.samples} samples independent, {MIXED_SAMPLES} x as many mixed (it is "
          "cheaper: the per-epoch validation and best-weight copy would dominate a short one)")
    per_sample = {}
    for mode, n in (("independent", args.samples), ("mixed", MIXED_SAMPLES * args.samples)):
        train = data(n, args.ctx, args.features)
        template = PatchTSTConfig(n_features=args.features, ctx_len=args.ctx, channels=mode)
        cfg = select_architecture(args.budget, args.features, args.ctx, template=template)
        t0 = time.perf_counter()
        probe = probe_seconds_per_sample(cfg, args.batch, device)
        probe_wall = time.perf_counter() - t0
        torch.manual_seed(0)
        tc = TrainConfig(max_epochs=1, patience=1, batch_size=args.batch, grad_clip=0.0, seed=0)
        model = PatchTST(cfg)  # no warm-up fit: the probe just ran the same kernels
        seconds, _ = measure(lambda m=model, c=tc, t=train: fit(m, c, t, val, device, args.batch),
                             device)
        per_sample[mode] = seconds / n
        print(f"  {mode:<11} d{cfg.d_model} x {cfg.n_layers} layers, "
              f"{count_parameters(cfg):,} params, {train_flops_per_sample(cfg):.3g} FLOPs/sample: "
              f"{per_sample[mode]:8.4f} s/sample measured, {probe.seconds_per_sample:8.4f} "
              f"estimated ({probe.how}, probe {probe_wall:.1f} s)")
    print(f"  independent / mixed  {per_sample['independent'] / per_sample['mixed']:8.1f}x "
          "per sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="200K")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--ctx", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in both loops")
    parser.add_argument("--contended", action="store_true",
                        help="the trainer beside a CPU-bound competitor on every core: default "
                             "threads against one thread")
    parser.add_argument("--channels", action="store_true",
                        help="per-sample training cost of both channel modes (with --features "
                             "100 --budget 20M: a100 at 20M)")
    args = parser.parse_args()
    if args.contended:
        contended(args)
        return
    if args.channels:
        channel_modes(args)
        return
    cores = use_all_cores()
    device = pick_device()
    from models_torch import PatchTST

    cfg = select_architecture(args.budget, args.features, args.ctx)
    train, val = data(args.samples, args.ctx, args.features), data(64, args.ctx, args.features, 1)
    n = args.samples * args.epochs

    def ours() -> None:
        torch.manual_seed(0)
        model = PatchTST(cfg)
        tc = TrainConfig(max_epochs=args.epochs, patience=args.epochs, batch_size=args.batch,
                         grad_clip=0.0, bf16=args.bf16, seed=0)
        fit(model, tc, train, val, device, args.batch)

    def bare() -> None:
        torch.manual_seed(0)
        bare_loop(PatchTST(cfg).to(device), train, args.batch, args.epochs, device, args.bf16)

    ours()  # warm-up (allocator, kernels)
    t_bare, cpu_bare = measure(bare, device)
    t_ours, cpu_ours = measure(ours, device)
    # fts also evaluates the validation split each epoch and keeps the best weights; that work
    # is part of what it does, so it is included.
    print(f"model {dataclasses.asdict(cfg)['d_model']}d x {cfg.n_layers} layers, "
          f"{args.features} features, ctx {args.ctx}, batch {args.batch}, device {device.type}, "
          f"{'bf16' if args.bf16 else 'fp32'}, {cores} cores")
    print(f"  bare PyTorch loop  {n / t_bare:8.1f} samples/s   CPU {cpu_bare:5.0f} % of {100 * cores} %")
    print(f"  fts trainer        {n / t_ours:8.1f} samples/s   CPU {cpu_ours:5.0f} % of {100 * cores} %")
    print(f"  ratio fts / bare   {t_bare / t_ours:8.2f}x (target >= 0.9x)")


if __name__ == "__main__":
    main()
