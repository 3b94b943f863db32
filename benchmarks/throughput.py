"""Training and evaluation throughput of forgetscope's loop and scorer on tiny fact-world models.

    python benchmarks/throughput.py                       # CPU, the demo's and a 4x128 model
    python benchmarks/throughput.py --device cuda --peak-tflops 989 \
        --models smollm2-135m llama-0.5b --batch-size 16 --max-length 512    # GPU, 0.1-0.5B Llamas, MFU

Models: the demo's tiny Llama and a 4x128 one (the defaults), and two real-size Llama shapes built
from a config with random weights (nothing downloaded): `smollm2-135m` (SmolLM2-135M's shape) and
`llama-0.5b` (32 layers x 1024). Every model trains through forgetscope's own `train` (accelerate,
fp32 master weights, `mixed_precision: auto`: bf16 autocast on a GPU for the real-size models) on
packed blocks of the fact world's pre-training text; the token ids come from the world's tokenizer,
which the real-size models' larger vocabularies contain. Restoration is this same loop on packed
text (its throughput is a row at the restoration config's batch and length).

Training tokens/s count every non-padding token a step processes. FLOPs per trained token:
6 (N + V d) + 12 L d T (PaLM's accounting: N = non-embedding parameters, V d the output projection,
which is a matmul even when tied; L layers, width d, T tokens per sequence for attention);
MFU = achieved / peak, printed only when --peak-tflops is given; --matmul-peak also times a bf16
8192^3 matmul on the device, the peak this code could reach. Evaluation
is the fact world's cloze probes (30 candidate continuations per context) through the native scorer:
requests/s and request tokens/s (context + continuation of every request). The scorer reads all of a
context's single-token candidates from one forward pass of the context, so request tokens/s is far
above the tokens the model actually runs; no FLOP figure is given for it.
"""

from __future__ import annotations

import argparse
import time

import torch

from forgetscope.data import lm_texts
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.models import TinyModelConfig, build_tiny_model
from forgetscope.training import LMBatches, TrainConfig, train
from forgetscope.world.build import build_world
from forgetscope.world.config import WorldConfig

TINY = {"demo 3x96": TinyModelConfig(layers=3, hidden=96, heads=4), "4x128": TinyModelConfig(layers=4, hidden=128, heads=4)}
# Real-size Llama shapes (random weights): SmolLM2-135M's config, and a 0.5B Llama.
REAL = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "llama-0.5b": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=32, num_attention_heads=16,
                       num_key_value_heads=16, vocab_size=32000, tie_word_embeddings=False),
}


def build(name: str, tok):
    if name in TINY:
        return build_tiny_model(TINY[name], tok, seed=0)
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**REAL[name], max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                                        eos_token_id=tok.eos_token_id, bos_token_id=None))


def non_embedding_params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and "lm_head" not in n)


def flops_per_token(model, seq: int) -> float:
    c = model.config
    return 6 * (non_embedding_params(model) + c.vocab_size * c.hidden_size) + 12 * c.num_hidden_layers * c.hidden_size * seq


def matmul_tflops(device: str, n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize() if device.startswith("cuda") else None
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize() if device.startswith("cuda") else None
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--eval-requests", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU")
    ap.add_argument("--models", nargs="+", default=list(TINY), choices=[*TINY, *REAL])
    ap.add_argument("--matmul-peak", action="store_true", help="also time a bf16 8192^3 matmul on the device")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    if args.matmul_peak:
        print(f"bf16 8192^3 matmul: {matmul_tflops(args.device):,.0f} TFLOP/s")

    world = build_world(WorldConfig(), seed=0)
    tok = world.tokenizer()
    texts = lm_texts(world.pretrain, "pretrain")
    reqs = [(p["prompt"], p["choices"][p["answer"]]) for p in world.probes if p["kind"] == "choice"]
    reqs = (reqs * (args.eval_requests // max(1, len(reqs)) + 1))[: args.eval_requests]

    print(f"device={args.device} threads={args.threads} batch={args.batch_size} len={args.max_length} steps={args.steps}")
    print(f"{'model':<13} {'N (non-emb)':>11} {'train tok/s':>12} {'train TFLOP/s':>14} {'eval req/s':>11} {'eval req tok/s':>15}"
          + ("  train MFU" if args.peak_tflops else "") + "  precision")
    for name in args.models:
        model = build(name, tok).to(args.device)
        n = non_embedding_params(model)
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=1e-3, max_length=args.max_length)
        batches = LMBatches(texts, tok, args.max_length, seed=0)
        train(model, batches, TrainConfig(steps=5, batch_size=args.batch_size, lr=1e-3, max_length=args.max_length), seed=0)  # warm-up
        result = train(model, batches, cfg, seed=0)
        train_tps = result.tokens_per_second
        del batches
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()

        scorer = NativeScorer(model.eval(), tok, batch_size=64)
        scorer.loglikelihood(reqs[:64])  # warm-up
        n_tokens = sum(len(scorer.encode(c + a)) for c, a in reqs)
        t0 = time.perf_counter()
        scorer.loglikelihood(reqs)
        seconds = time.perf_counter() - t0

        tf = flops_per_token(model, args.max_length) * train_tps
        line = f"{name:<13} {n:>11,} {train_tps:>12,.0f} {tf / 1e12:>14.3f} {len(reqs) / seconds:>11,.0f} {n_tokens / seconds:>15,.0f}"
        if args.peak_tflops:
            line += f"  {100 * tf / (args.peak_tflops * 1e12):>8.2f}%"
        print(line + f"  {result.mixed_precision}", flush=True)
        del model, scorer
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
