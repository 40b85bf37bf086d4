"""Train a character-level GPT for the gpu-nanogpt task (the file the org edits).

A compact nanoGPT: token and position embeddings, DEPTH pre-norm transformer blocks (causal
self-attention through scaled_dot_product_attention, a GELU MLP), a final norm and a linear head.
It trains with AdamW in bfloat16 autocast on the GPU (float32 on a CPU, for a smoke test) for
prepare.TIME_BUDGET seconds of wall clock, with warmup then cosine decay over that time, saves the
model with prepare.save_model, and prints an autoresearch-style summary. The score, val_bpb, comes
from `python prepare.py --evaluate model.pt`, in its own process, never from here.
"""

from __future__ import annotations

import math
import os
import time

# Compiled kernels outlive the sandbox's per-experiment TMPDIR, so experiments reuse them.
os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR", os.path.expanduser("~/.cache/orgloop-nanogpt/inductor")
)

import prepare  # after the cache setting above: torch reads it at import
import torch
import torch.nn.functional as F
from torch import nn

DEPTH = 6
N_EMBD = 384
HEAD_DIM = 64
BATCH_SIZE = 64
LR = 0.001
WEIGHT_DECAY = 0.1
WARMUP = 0.05
FINAL_LR_FRAC = 0.1
GRAD_CLIP = 1.0
DROPOUT = 0.0
COMPILE = True
SEED = 0


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(N_EMBD)
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
        self.proj = nn.Linear(N_EMBD, N_EMBD, bias=False)
        self.ln2 = nn.LayerNorm(N_EMBD)
        self.fc = nn.Linear(N_EMBD, 4 * N_EMBD, bias=False)
        self.out = nn.Linear(4 * N_EMBD, N_EMBD, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, c // HEAD_DIM, HEAD_DIM).transpose(1, 2) for z in (q, k, v))
        drop = DROPOUT if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(prepare.VOCAB_SIZE, N_EMBD)
        self.pos = nn.Embedding(prepare.SEQ_LEN, N_EMBD)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.ln_f = nn.LayerNorm(N_EMBD)
        self.head = nn.Linear(N_EMBD, prepare.VOCAB_SIZE, bias=False)
        self.apply(self._init)
        for block in self.blocks:  # residual projections scaled down with depth (GPT-2)
            for layer in (block.proj, block.out):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * DEPTH))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def lr_at(progress: float) -> float:
    """Warmup over the first WARMUP of the budget, then cosine down to FINAL_LR_FRAC of LR."""
    if progress < WARMUP:
        return LR * (progress + 1e-3) / WARMUP
    frac = (progress - WARMUP) / max(1e-9, 1.0 - WARMUP)
    return LR * (FINAL_LR_FRAC + (1 - FINAL_LR_FRAC) * 0.5 * (1.0 + math.cos(math.pi * frac)))


def main() -> None:
    t0 = time.time()
    torch.manual_seed(SEED)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    data = torch.from_numpy(prepare.train_tokens().copy()).to(device)
    span = torch.arange(prepare.SEQ_LEN + 1, device=device)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(data) - prepare.SEQ_LEN - 1, (BATCH_SIZE, 1), device=device)
        chunk = data[starts + span].long()
        return chunk[:, :-1], chunk[:, 1:]

    raw = GPT().to(device)
    model = torch.compile(raw) if COMPILE and cuda else raw
    decay = [p for p in raw.parameters() if p.dim() >= 2]
    no_decay = [p for p in raw.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": WEIGHT_DECAY},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.95), fused=cuda)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=cuda)

    step, train_start, elapsed, smooth = 0, 0.0, 0.0, 0.0
    while elapsed < prepare.TIME_BUDGET:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(elapsed / prepare.TIME_BUDGET)
        x, y = batch()
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, prepare.VOCAB_SIZE), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        step += 1
        if step == 1:  # compilation happens in the first step; the budget is for training
            train_start = time.time()
        elapsed = time.time() - train_start
        value = loss.item()
        if not math.isfinite(value):
            raise SystemExit(f"loss is {value} at step {step}")
        smooth = value if step == 1 else 0.98 * smooth + 0.02 * value
        if step % 200 == 0:
            print(
                f"step {step}  loss {value:.4f}  lr {optimizer.param_groups[0]['lr']:.2e}  "
                f"{elapsed:.0f}s",
                flush=True,
            )

    prepare.save_model(raw, "model.pt")
    params = sum(p.numel() for p in raw.parameters())
    print("---")
    print(f"train_bpb:        {smooth / math.log(2):.6f}")
    print(f"training_seconds: {elapsed:.1f}")
    print(f"total_seconds:    {time.time() - t0:.1f}")
    print(f"peak_vram_mb:     {torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0:.1f}")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {params / 1e6:.2f}")
    print(f"depth:            {DEPTH}")


if __name__ == "__main__":
    main()
