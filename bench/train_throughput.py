"""Benchmark: samples per second of the fts trainer (`fts.train.loop.fit`) against a bare
PyTorch loop on the same model, data and batch size, in the same run (target: >= 0.9x).
Also prints CPU utilisation (all cores = 100 % x cores) during each. `--bf16` runs both under
bf16 autocast (the loss in fp32, as fts does)."""

from __future__ import annotations

import argparse
import dataclasses
import time
from types import SimpleNamespace

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="200K")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--ctx", type=int, default=64)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in both loops")
    args = parser.parse_args()
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
