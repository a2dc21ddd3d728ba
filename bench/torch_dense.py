"""Reference peer: a LLaMA-style decoder trained in eager PyTorch on CPU.
Measures training tokens/s for a given config, to compare side by side with the project.
Usage: torch_dense.py --vocab V --d D --layers L --heads H --seq S --batch B --steps N [--ids FILE]
`ladder bench train` passes --ids: the step's token ids (batch x (seq + 1), whitespace-separated),
so that both sides train on the same ids. Without it the ids are uniform random."""
import argparse, time, math, torch, torch.nn as nn, torch.nn.functional as F

class RMSNorm(nn.Module):
    def __init__(s, d): super().__init__(); s.w = nn.Parameter(torch.ones(d))
    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * s.w

def rope(x, cos, sin):
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)

class Block(nn.Module):
    def __init__(s, d, h, ff):
        super().__init__(); s.h = h
        s.n1, s.n2 = RMSNorm(d), RMSNorm(d)
        s.qkv = nn.Linear(d, 3 * d, bias=False); s.o = nn.Linear(d, d, bias=False)
        s.w1 = nn.Linear(d, ff, bias=False); s.w3 = nn.Linear(d, ff, bias=False); s.w2 = nn.Linear(ff, d, bias=False)
    def forward(s, x, cos, sin):
        B, T, D = x.shape
        q, k, v = s.qkv(s.n1(x)).view(B, T, 3, s.h, D // s.h).permute(2, 0, 3, 1, 4)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.o(a.transpose(1, 2).reshape(B, T, D))
        h = s.n2(x)
        return x + s.w2(F.silu(s.w1(h)) * s.w3(h))

class Model(nn.Module):
    def __init__(s, V, d, L, h, T):
        super().__init__()
        s.emb = nn.Embedding(V, d); s.blocks = nn.ModuleList(Block(d, h, int(8 * d / 3 / 8 + 1) * 8) for _ in range(L))
        s.norm = RMSNorm(d); s.head = nn.Linear(d, V, bias=False)
        hd = d // h; inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd)); t = torch.arange(T).float()
        f = torch.outer(t, inv); s.register_buffer("cos", f.cos()); s.register_buffer("sin", f.sin())
    def forward(s, idx):
        x = s.emb(idx)
        for b in s.blocks: x = b(x, s.cos, s.sin)
        return s.head(s.norm(x))

p = argparse.ArgumentParser()
for k, v in dict(vocab=32768, d=128, layers=4, heads=4, seq=128, batch=16, steps=20, warmup=3, threads=2).items():
    p.add_argument("--" + k, type=int, default=v)
p.add_argument("--ids", default=None)
a = p.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
m = Model(a.vocab, a.d, a.layers, a.heads, a.seq)
n = sum(p.numel() for p in m.parameters())
opt = torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.1)
if a.ids:
    data = torch.tensor([int(t) for t in open(a.ids).read().split()], dtype=torch.long).view(a.batch, a.seq + 1)
    assert int(data.max()) < a.vocab, "an id is outside the vocabulary"
else:
    data = torch.randint(0, a.vocab, (a.batch, a.seq + 1))
def step():
    logits = m(data[:, :-1]); loss = F.cross_entropy(logits.reshape(-1, a.vocab), data[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    return loss.item()
for _ in range(a.warmup): step()
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(a.steps): step()
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
tps = a.steps * a.batch * a.seq / dt
flops = 6 * n * tps + 12 * a.layers * a.d * a.seq * tps  # incl. attention (approx)
print(f"params={n} tokens/s={tps:.0f} GFLOP/s={flops/1e9:.1f} tokens/cpu-s={a.steps * a.batch * a.seq / cpu:.0f}")
