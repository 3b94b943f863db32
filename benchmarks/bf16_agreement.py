"""bf16 autocast against fp32 on the same model and the same probe items: accuracy per probe with a
paired interval, log-likelihood differences, bits per byte, and the time of each.

    forgetscope convert-gguf smollm2 /tmp/smollm2            # SmolLM2-135M-Instruct as safetensors
    python benchmarks/bf16_agreement.py --model /tmp/smollm2 --items 96 --threads 2

Items are taken evenly from the probe file (every k-th), so every probe is represented. Both passes
use forgetscope's NativeScorer and probe runner (what a study's evaluation runs), once with
`mixed_precision="no"` and once with `"bf16"` (autocast; the weights stay fp32). The time of each pass
is wall-clock and this process's CPU time; on a CPU without bf16 instructions (AVX512-BF16, AMX-BF16)
bf16 is emulated and slower, which is why `auto` measures a matmul before it picks bf16
(forgetscope/precision.py). Run it on an idle machine: under load the two passes' times are not
comparable. The header names the CPU and the flags that matter.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from forgetscope.evaluation.items import load_items
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.hardware import cpu_summary
from forgetscope.models.loading import load_model, load_tokenizer

HERE = Path(__file__).resolve().parent.parent / "examples" / "smollm2" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a local model folder (config.json, *.safetensors, tokenizer)")
    ap.add_argument("--probes", default=str(HERE / "probes-cpu.jsonl"))
    ap.add_argument("--heldout", default=str(HERE / "heldout-cpu.jsonl"), help="JSONL of {'text'}: bits per byte")
    ap.add_argument("--items", type=int, default=96, help="probe items, taken evenly from the file (0 = all)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model), load_tokenizer(args.model)
    items = load_items(args.probes)
    if args.items and args.items < len(items):
        items = [items[round(i * len(items) / args.items)] for i in range(args.items)]
    texts = [json.loads(line)["text"] for line in Path(args.heldout).read_text().splitlines() if line.strip()]
    print(f"{args.model}: {sum(p.numel() for p in model.parameters()):,} parameters; {len(items)} probe items, "
          f"{len(texts)} held-out texts; {args.threads} threads; torch {torch.__version__}; "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}; {cpu_summary()}")

    out = {}
    for mode in ("no", "bf16"):
        scorer = NativeScorer(model, tok, batch_size=args.batch_size, mixed_precision=mode)
        t0, c0 = time.perf_counter(), time.process_time()
        rows = run_probes(scorer, items, ProbeSettings())
        bpb = scorer.bits_per_byte(texts)
        out[mode] = {"rows": {r["item_id"]: r for r in rows}, "bpb": bpb,
                     "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        print(f"{'fp32' if mode == 'no' else 'bf16'}: {out[mode]['wall']:.0f} s wall, {out[mode]['cpu']:.0f} CPU-s", flush=True)

    a, b = out["no"]["rows"], out["bf16"]["rows"]
    print("\n| probe | items | fp32 accuracy | bf16 accuracy | bf16 - fp32 (95% paired t-interval) | items whose score changed |")
    print("|---|---|---|---|---|---|")
    for probe in sorted({r["probe"] for r in a.values()}):
        ids = [i for i, r in a.items() if r["probe"] == probe]
        x = np.array([a[i]["score"] for i in ids])
        y = np.array([b[i]["score"] for i in ids])
        d = y - x
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 and d.std() > 0 else 0.0
        print(f"| {probe} | {len(ids)} | {x.mean():.3f} | {y.mean():.3f} | {d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}] "
              f"| {int((d != 0).sum())} |")
    ids = [i for i, r in a.items() if "answer_logprob" in r]
    if ids:
        diff = np.array([b[i]["answer_logprob"] - a[i]["answer_logprob"] for i in ids])
        print(f"\nlog-likelihood of the correct choice, bf16 - fp32 over {len(ids)} choice items (nats): "
              f"mean {diff.mean():+.4f}, mean |diff| {np.abs(diff).mean():.4f}, max |diff| {np.abs(diff).max():.4f}; "
              f"predicted choice changed on {sum(a[i]['output'] != b[i]['output'] for i in ids)}")
    gen = [i for i, r in a.items() if "answer_logprob" not in r]
    if gen:
        print(f"generated outputs identical on {sum(a[i]['output'] == b[i]['output'] for i in gen)} of {len(gen)} generation items")
    print(f"bits per byte on held-out text: fp32 {out['no']['bpb']:.4f}, bf16 {out['bf16']['bpb']:.4f} "
          f"(diff {out['bf16']['bpb'] - out['no']['bpb']:+.4f})")
    print(f"time bf16 / fp32: wall {out['bf16']['wall'] / out['no']['wall']:.2f}x, CPU {out['bf16']['cpu'] / out['no']['cpu']:.2f}x")


if __name__ == "__main__":
    main()
