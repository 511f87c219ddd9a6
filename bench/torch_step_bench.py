#!/usr/bin/python3
"""torch_step_bench: a PyTorch-eager reference for sadari's CPU training speed.

Builds in plain PyTorch (float32, torch.nn, autograd) the model sadari builds from
a sadari YAML config (embedding; pre-norm blocks of causal RoPE multi-head
attention and a dense SwiGLU or DeepSeek-V3 MoE FFN; final RMSNorm; untied head;
cross-entropy), trains it on the CPU as `sadari train` steps (global_batch
sequences in micro-batches with gradient accumulation, grad-norm clipping, AdamW,
aux-loss-free router-bias update) and reports tokens/s and model GFLOP/s, to set
beside build/bench/train_step_bench on the same machine and thread count.

A SPEED reference only: it does not reproduce sadari's numerics, initialisation,
learning-rate schedule (lr stays optim.lr) or data. Tokens are seeded random ids;
one fixed batch is reused every step (unless --fresh-data), so the printed loss
falls, which shows that gradients flow.

Needs Debian 12's python3-torch and python3-yaml; run with the system python:
    apt-get install -y --no-install-recommends python3-torch python3-yaml
    /usr/bin/python3 bench/torch_step_bench.py [--config configs/small-moe.yaml]
        [--steps 5] [--warmup 1] [--threads T] [--set train.micro_batch=4 ...] [--json]
"""
import argparse, ctypes, inspect, json, math, os, statistics, sys, time  # noqa: E401


def openblas_core():  # the kernel ("core") OpenBLAS uses; None without OpenBLAS
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def select_openblas_kernel():
    """sadari's rule (kernels/gemm_backend.h), so both run the same sgemm kernel: when
    Debian's OpenBLAS settled below the CPU's instruction set (generic "Prescott" on
    CPUs it does not know) and OPENBLAS_CORETYPE is unset, restart with it set."""
    core = None if os.environ.get("OPENBLAS_CORETYPE") else openblas_core()
    if core is None or core in ("Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"):
        return
    cpuinfo = open("/proc/cpuinfo").read()
    flags = set(next((l for l in cpuinfo.splitlines() if l.startswith("flags")), "").split())
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "SKYLAKEX"
    elif {"avx2", "fma"} <= flags:
        os.environ["OPENBLAS_CORETYPE"] = "ZEN" if "AuthenticAMD" in cpuinfo else "HASWELL"
    else:
        return
    os.execv(sys.executable, [sys.executable] + sys.argv)


if __name__ == "__main__":
    select_openblas_kernel()  # before torch loads OpenBLAS

import torch, torch.nn as nn, torch.nn.functional as F, yaml  # noqa: E401,E402

# Defaults of the keys used here, from core/config.h (`sadari config FILE` prints them).
DEFAULTS = {
    "model": dict(name="tiny-moe", vocab_size=264, hidden=64, layers=4, heads=4, kv_heads=0,
                  head_dim=0, max_seq_len=256, attention="mha", rope_theta=10000.0,
                  norm_eps=1e-6, init_std=0.02, dense_ffn_hidden=256, first_dense_layers=1,
                  experts=8, moe_ffn_hidden=64, shared_experts=1, top_k=2,
                  score_func="softmax", n_groups=1, topk_groups=1, norm_topk_prob=True,
                  routed_scaling_factor=1.0, bias_update_speed=0.001, aux_loss_alpha=0.0),
    "train": dict(global_batch=16, micro_batch=8, seq_len=64, seed=1234, threads=0),
    "optim": dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0),
}


def load_config(path, overrides):
    """Defaults <- the YAML file <- --set section.key=value (value parsed as YAML)."""
    with open(path) as f:
        loaded = yaml.safe_load(f) or {}
    cfg = {sec: dict(vals) for sec, vals in DEFAULTS.items()}
    for sec, vals in loaded.items():
        if isinstance(vals, dict):
            cfg.setdefault(sec, {}).update(vals)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"torch_step_bench: --set expects section.key=value, got '{item}'")
        *sections, last = key.split(".")
        node = cfg
        for s in sections:
            node = node.setdefault(s, {})
        node[last] = yaml.safe_load(value)
    return cfg


class RMSNorm(nn.Module):  # y = x / sqrt(mean(x^2) + eps) * w
    def __init__(self, dim, eps):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    """Causal MHA; RoPE on q, k rotating pairs (i, i + hd/2) as kernels/cpu/rope.cpp.
    torch 1.13 has no scaled_dot_product_attention: softmax(q k^T / sqrt(hd) + mask) v."""

    def __init__(self, m):
        super().__init__()
        self.H, self.hd = m["heads"], m["head_dim"] or m["hidden"] // m["heads"]
        D, inner = m["hidden"], self.H * self.hd
        self.wq, self.wk, self.wv = (nn.Linear(D, inner, bias=False) for _ in range(3))
        self.wo = nn.Linear(inner, D, bias=False)
        self.theta, self.tables = m["rope_theta"], {}  # seq -> (cos, sin, causal mask)

    def table(self, seq):
        if seq not in self.tables:
            half = self.hd // 2
            freq = self.theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / self.hd)
            ang = torch.arange(seq, dtype=torch.float64)[:, None] * freq[None, :]
            mask = torch.full((seq, seq), float("-inf")).triu(1)
            self.tables[seq] = (ang.cos().float(), ang.sin().float(), mask)
        return self.tables[seq]

    def forward(self, x):  # x: [B, T, D]
        B, T, _ = x.shape
        cos, sin, mask = self.table(T)
        q, k, v = (w(x).view(B, T, self.H, self.hd).transpose(1, 2)  # [B, H, T, hd]
                   for w in (self.wq, self.wk, self.wv))
        (q0, q1), (k0, k1) = q.chunk(2, dim=-1), k.chunk(2, dim=-1)
        q = torch.cat((q0 * cos - q1 * sin, q0 * sin + q1 * cos), -1) * self.hd ** -0.5
        k = torch.cat((k0 * cos - k1 * sin, k0 * sin + k1 * cos), -1)
        att = torch.softmax(q @ k.transpose(-2, -1) + mask, dim=-1)
        return self.wo((att @ v).transpose(1, 2).reshape(B, T, self.H * self.hd))


class SwiGLU(nn.Module):
    """y = (silu(x Wg^T) * x Wu^T) Wd^T, gate and up fused like sadari's gate_up [2F, D]."""

    def __init__(self, D, width):
        super().__init__()
        self.gate_up = nn.Linear(D, 2 * width, bias=False)
        self.down = nn.Linear(width, D, bias=False)

    def forward(self, x):
        g, u = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(g) * u)


class MoE(nn.Module):
    """DeepSeek-V3 MoE (model/router.h, model/moe_layer.h): sigmoid/softmax router,
    group-limited top-k on scores + bias, dropless routed SwiGLU experts over
    expert-sorted rows, shared experts fused into one SwiGLU, sequence-wise aux loss."""

    def __init__(self, m):
        super().__init__()
        self.m, D, self.E, self.K = m, m["hidden"], m["experts"], m["top_k"]
        self.router = nn.Parameter(torch.empty(self.E, D))
        self.register_buffer("bias", torch.zeros(self.E))  # selection only; not trained
        self.experts = nn.ModuleList(SwiGLU(D, m["moe_ffn_hidden"]) for _ in range(self.E))
        S = m["shared_experts"] * m["moe_ffn_hidden"]
        self.shared = SwiGLU(D, S) if S > 0 else None
        self.counts = torch.zeros(self.E)  # tokens per expert in the current step

    @torch.no_grad()
    def select(self, scores):
        """Expert ids [n, K], best first, from scores + bias within the best groups."""
        biased, G = scores + self.bias, self.m["n_groups"]
        if G > 1:
            n, size = biased.shape[0], self.E // G
            grouped = biased.view(n, G, size)
            if self.m["score_func"] == "sigmoid":  # V3: sum of the two largest per group
                gscore = grouped.topk(min(2, size), dim=-1).values.sum(-1)
            else:  # V2: the largest
                gscore = grouped.amax(-1)
            keep = gscore.topk(self.m["topk_groups"], dim=-1).indices
            drop = torch.ones_like(gscore, dtype=torch.bool).scatter_(1, keep, False)
            biased = grouped.masked_fill(drop[:, :, None], float("-inf")).view(n, self.E)
        return biased.topk(self.K, dim=-1).indices

    def forward(self, x):  # x: [B, T, D] -> (y, aux loss)
        B, T, D = x.shape
        xf = x.reshape(B * T, D)
        logits = xf @ self.router.t()
        scores = logits.sigmoid() if self.m["score_func"] == "sigmoid" else logits.softmax(-1)
        idx = self.select(scores)                     # [n, K]
        w = scores.gather(1, idx)                     # gates: the unbiased scores
        if self.m["norm_topk_prob"] and self.K > 1:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * self.m["routed_scaling_factor"]
        # Dispatch: sort the (token, slot) pairs by expert, run each expert on its
        # contiguous rows (one GEMM pair each), add back weighted by the gates.
        expert, order = torch.sort(idx.reshape(-1), stable=True)
        token = order // self.K
        counts = torch.bincount(expert, minlength=self.E)
        self.counts += counts
        outs = [self.experts[e](rows)
                for e, rows in enumerate(torch.split(xf[token], counts.tolist())) if len(rows)]
        routed = torch.cat(outs) * w.reshape(-1)[order].unsqueeze(1)
        y = torch.zeros_like(xf).index_add_(0, token, routed)
        if self.shared is not None:
            y = y + self.shared(xf)
        aux = xf.new_zeros(())
        if self.m["aux_loss_alpha"] > 0:
            # alpha * mean over sequences of sum_i f_i P_i; f_i = E/(K T) * count_i (no
            # gradient), P_i = mean over the sequence of the normalised scores.
            P = (scores / scores.sum(-1, keepdim=True)).view(B, T, self.E).mean(1)
            f = torch.zeros(B, self.E).scatter_add_(1, idx.view(B, T * self.K),
                                                    torch.ones(B, T * self.K))
            aux = self.m["aux_loss_alpha"] * (f * (self.E / (self.K * T)) * P).sum(-1).mean()
        return y.view(B, T, D), aux

    @torch.no_grad()
    def update_bias(self):
        """Aux-loss-free balancing after a step: b_i += gamma * sign(mean - count_i)."""
        self.bias += self.m["bias_update_speed"] * torch.sign(self.counts.mean() - self.counts)
        self.counts.zero_()


class Block(nn.Module):
    """h = x + Attn(RMSNorm(x)); y = h + FFN(RMSNorm(h)); FFN dense or MoE by layer."""

    def __init__(self, m, layer):
        super().__init__()
        self.attn_norm = RMSNorm(m["hidden"], m["norm_eps"])
        self.ffn_norm = RMSNorm(m["hidden"], m["norm_eps"])
        self.attn = Attention(m)
        self.moe = layer >= m["first_dense_layers"]
        self.ffn = MoE(m) if self.moe else SwiGLU(m["hidden"], m["dense_ffn_hidden"])

    def forward(self, x):
        h = x + self.attn(self.attn_norm(x))
        y, aux = self.ffn(self.ffn_norm(h)) if self.moe else (self.ffn(self.ffn_norm(h)), 0.0)
        return h + y, aux


class Model(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.embed = nn.Embedding(m["vocab_size"], m["hidden"])
        self.blocks = nn.ModuleList(Block(m, layer) for layer in range(m["layers"]))
        self.final_norm = RMSNorm(m["hidden"], m["norm_eps"])
        self.head = nn.Linear(m["hidden"], m["vocab_size"], bias=False)  # untied
        for p in self.parameters():  # matrices normal(init_std); norms stay ones
            if p.dim() >= 2:
                nn.init.normal_(p, std=m["init_std"])

    def forward(self, ids, targets):  # -> (mean cross-entropy, summed aux loss)
        x, aux = self.embed(ids), 0.0
        for block in self.blocks:
            x, a = block(x)
            aux = aux + a
        logits = self.head(self.final_norm(x))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)), aux


def train_flops_per_token(m, seq):
    """sadari's formula (Transformer::train_flops_per_token), so GFLOP/s compare:
    3 x forward (backward = 2 x forward), 2 FLOPs per multiply-add. Forward per token:
    head 2*V*D, and per layer q/k/v/o 8*D*inner + causal scores and values
    4*inner*(seq+1)/2 (the half triangle) + FFN: dense 6*D*dense_ffn_hidden, MoE
    router 2*D*E + 6*D*moe_ffn_hidden*(top_k + shared_experts). No embedding FLOPs."""
    D, inner = m["hidden"], m["heads"] * (m["head_dim"] or m["hidden"] // m["heads"])
    fwd = 2.0 * m["vocab_size"] * D
    for layer in range(m["layers"]):
        fwd += 8.0 * D * inner + 4.0 * inner * (seq + 1) / 2.0
        if layer < m["first_dense_layers"]:
            fwd += 6.0 * D * m["dense_ffn_hidden"]
        else:
            fwd += 2.0 * D * m["experts"] + \
                6.0 * D * m["moe_ffn_hidden"] * (m["top_k"] + m["shared_experts"])
    return 3.0 * fwd


def main():
    ap = argparse.ArgumentParser(description="PyTorch-eager reference for sadari's CPU step")
    ap.add_argument("--config", default="configs/small-moe.yaml")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="default: train.threads or all CPUs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--fresh-data", action="store_true", help="a new random batch each step")
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    args = ap.parse_args()
    cfg = load_config(args.config, args.set)
    m, tr, op = cfg["model"], cfg["train"], cfg["optim"]
    seq, micro, glob = tr["seq_len"], tr["micro_batch"], tr["global_batch"]
    for ok, msg in [(args.steps >= 1 and args.warmup >= 0, "need --steps >= 1, --warmup >= 0"),
                    (m["attention"] == "mha", "model.attention must be mha"),
                    (m["kv_heads"] in (0, m["heads"]), "model.kv_heads must be 0 or heads"),
                    ((m["head_dim"] or m["hidden"] % m["heads"] == 0) and
                     (m["head_dim"] or m["hidden"] // m["heads"]) % 2 == 0,
                     "head_dim (or hidden / heads) must be a whole, even number"),
                    (glob % micro == 0, "train.micro_batch must divide train.global_batch"),
                    (seq <= m["max_seq_len"], "train.seq_len must be <= model.max_seq_len"),
                    (m["experts"] % m["n_groups"] == 0, "model.n_groups must divide experts")]:
        if not ok:
            raise SystemExit("torch_step_bench: " + msg)

    threads = args.threads or tr["threads"] or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(tr["seed"])
    model = Model(m)
    moes = [b.ffn for b in model.blocks if b.moe]
    # Counted as sadari's ParameterStore counts: every parameter plus the router biases.
    n_params = sum(p.numel() for p in model.parameters()) + sum(e.bias.numel() for e in moes)
    kw = dict(lr=op["lr"], betas=(op["beta1"], op["beta2"]), eps=op["eps"])
    if "foreach" in inspect.signature(torch.optim.AdamW).parameters:
        kw["foreach"] = True
    opt = torch.optim.AdamW(  # like sadari: no weight decay on the norm weights
        [{"params": [p for p in model.parameters() if p.dim() >= 2],
          "weight_decay": op["weight_decay"]},
         {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}], **kw)
    gen = torch.Generator().manual_seed(tr["seed"])

    def batch():  # [global, seq + 1] ids: inputs [:, :-1], targets [:, 1:]
        return torch.randint(0, m["vocab_size"], (glob, seq + 1), generator=gen)

    def step(data):
        """One optimizer step; returns the mean cross-entropy over the global batch."""
        ce_mean = 0.0
        for i in range(0, glob, micro):
            chunk = data[i:i + micro]
            ce, aux = model(chunk[:, :-1], chunk[:, 1:])
            # Scaled by micro/global, the micro-batch losses sum to the global mean.
            ((ce + aux) * (micro / glob)).backward()
            ce_mean += ce.item() * micro / glob
        if op["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), op["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        for moe in moes:
            moe.update_bias()
        return ce_mean

    tokens, blas = glob * seq, f"OpenBLAS {openblas_core() or 'not found'}"
    # libgomp spin-waits by default, which distorts timings on a busy machine (both
    # sides alike; docs/performance.md): report the policy, as train_step_bench does.
    wait = os.environ.get("OMP_WAIT_POLICY", "unset")
    if not args.json:
        print(f"torch_step_bench: {m['name']} ({n_params / 1e6:.6g}M parameters), "
              f"{glob} x {seq} = {tokens} tokens per step (micro-batch {micro}), "
              f"{threads} threads, torch {torch.__version__}, {blas}, OMP_WAIT_POLICY {wait}",
              flush=True)
    data, times, losses = batch(), [], []
    for s in range(args.warmup + args.steps):
        if args.fresh_data and s > 0:
            data = batch()
        t0 = time.perf_counter()
        loss = step(data)
        dt = time.perf_counter() - t0
        if not math.isfinite(loss):
            raise SystemExit(f"torch_step_bench: loss is not finite ({loss})")
        timed = s >= args.warmup
        if timed:
            times.append(dt)
            losses.append(loss)
        if not args.json:
            label = f"step {s - args.warmup + 1}" if timed else f"warmup {s + 1}"
            print(f"{label}: {dt:.3f} s, loss {loss:.4f}, {tokens / dt:.0f} tok/s", flush=True)
    med = statistics.median(times)
    flops = train_flops_per_token(m, seq)
    res = dict(config=m["name"], params_m=n_params / 1e6, tokens_per_step=tokens,
               micro_batch=micro, threads=threads, torch=torch.__version__, blas=blas,
               omp_wait_policy=wait,
               steps=args.steps, warmup=args.warmup, step_s_median=med,
               tokens_per_s=tokens / med, flops_per_token=flops,
               model_gflops_per_s=flops * tokens / med / 1e9, step_s=times, losses=losses)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"step: {med:.4f} s (median)")
        print(f"tokens/s: {res['tokens_per_s']:.1f}")
        print(f"model GFLOP/s: {res['model_gflops_per_s']:.3f}")


if __name__ == "__main__":
    main()
