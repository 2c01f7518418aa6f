import sys, time
import torch, torch.nn.functional as F
from models_torch import *
dev = torch.device("cuda")
GIB = 1024**3
def step(cfg, bs, amp):
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    m = init_seeded(cfg, 0, dev).train()
    opt = torch.optim.AdamW(m.parameters())
    x = torch.randn(bs, cfg.ctx_len, cfg.n_features, device=dev); y = torch.rand(bs, device=dev).round()
    t = time.time()
    for _ in range(2):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = F.binary_cross_entropy_with_logits(m(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    est = estimate_training_memory(cfg, bs, dtype_bytes=2 if amp else 4)
    print(f"{format_count(count_parameters(cfg)):>7} bs={bs:4} amp={amp!s:5} peak={peak/GIB:7.2f}GiB est={est/GIB:7.2f}GiB ratio={est/peak:5.2f} {(time.time()-t)/2:.3f}s/step  d={cfg.d_model} L={cfg.n_layers} N={cfg.n_patches} C={cfg.n_features}", flush=True)
    del m, opt
cases = [(PatchTSTConfig(n_features=20, ctx_len=128), 256)]
for b, c, bs in [("2M", 50, 256), ("20M", 50, 64), ("200M", 20, 32), ("200M", 100, 8), ("2B", 20, 4), ("2B", 100, 1)]:
    a = architecture_grid(b, c, 128)
    ex = grid_extremes(a)
    cases += [(a[len(a)//2].config, bs)] + [(e.config, bs) for e in ex[:2]]
for cfg, bs in cases:
    for amp in (False, True):
        try:
            step(cfg, bs, amp)
        except torch.OutOfMemoryError:
            print("OOM", format_count(count_parameters(cfg)), bs, amp, "est", estimate_training_memory(cfg, bs, 2 if amp else 4)/GIB, flush=True)
            torch.cuda.empty_cache()
