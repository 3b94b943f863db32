"""The fact world's embedding-drift artefact, measured on a finished trajectory run (one seed):

- drift: median relative change ||E_t[i] - E_0[i]|| / ||E_0[i]|| of the input-embedding rows of the
  evaluation people's names (tokens no fine-tuning or restoration text contains) and, for
  comparison, of the instruction-data people's names; mean pairwise cosine within each group;
- cloze_l1 accuracy of each checkpoint, and (`--restore-rows`) of the checkpoint with only the
  evaluation names' rows put back to their base values;
- (`--bpb`) L1 held-out bits/byte at the base and step 32, over all tokens and over the trained
  tokens only (the held-out names left out: forgetscope.evaluation.probes_and_bpb.heldout_bits), and the share
  of the bits that the untrained tokens carry.

    forgetscope run src/forgetscope/configs/demo-trajectory.yaml --out runs/abl --set 'seeds=[0]'
    python benchmarks/embedding_drift.py runs/abl --restore-rows --bpb

Writes RUN/embedding_drift.csv and prints one row per step. docs/fact-world.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import pandas as pd
import torch

from forgetscope.evaluation.items import load_items
from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.evaluation.probes_and_bpb import heldout_bits
from forgetscope.views import TrajectoryRun


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a finished trajectory run folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restore-rows", action="store_true", help="also score each checkpoint with the evaluation names' base rows")
    ap.add_argument("--bpb", action="store_true", help="held-out bits/byte at the base and step 32, all tokens vs trained tokens")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run, seed = TrajectoryRun(args.run), args.seed
    wd, tok = run.world_dir(seed), run.tokenizer(seed)
    world = json.loads((wd / "world.json").read_text())

    def name_ids(split: str) -> list[int]:
        return [tok.convert_tokens_to_ids(p["name"]) for p in world["people"] if p["split"] == split]

    ev, ift = name_ids("eval"), name_ids("ift")
    cloze = [it for it in load_items(wd / "probes.jsonl") if it.probe == "cloze_l1"]
    held = [json.loads(line) for line in (wd / "heldout.jsonl").read_text().splitlines()]
    held = [r for r in held if r.get("language") == "l1"]
    e0 = run.load_model(seed, 0).get_input_embeddings().weight.detach().clone()

    def mean_cos(e: torch.Tensor, rows: list[int]) -> float:
        x = torch.nn.functional.normalize(e[rows], dim=1)
        c = x @ x.T
        return float((c.sum() - c.diag().sum()) / (len(rows) * (len(rows) - 1)))

    def drift(e: torch.Tensor, rows: list[int]) -> float:
        return statistics.median(float((e[r] - e0[r]).norm() / e0[r].norm()) for r in rows)

    def cloze_acc(model) -> float:
        rows = run_probes(NativeScorer(model, tok, batch_size=64), cloze, ProbeSettings())
        return 100 * sum(r["score"] for r in rows) / len(rows)

    out = []
    for step in [0, *run.steps(seed)]:
        model = run.load_model(seed, step)
        e = model.get_input_embeddings().weight.detach()
        row = {"step": step, "drift_eval_names": drift(e, ev), "drift_ift_names": drift(e, ift),
               "cos_eval_names": mean_cos(e, ev), "cos_ift_names": mean_cos(e, ift), "cloze": cloze_acc(model)}
        if args.bpb and step in (0, 32):
            sc = NativeScorer(model, tok, batch_size=64)
            texts = [r["text"] for r in held]
            all_bits, all_bytes = sc.bits_and_bytes(texts)
            bits, n_bytes, skipped = heldout_bits(sc, texts, [r.get("untrained") or [] for r in held])
            row.update(bpb_all_tokens=all_bits / all_bytes, bpb_trained_tokens=bits / n_bytes,
                       untrained_bits_share=(all_bits - bits) / all_bits if all_bits else math.nan, skipped_tokens=skipped)
        if args.restore_rows and step:
            with torch.no_grad():
                model.get_input_embeddings().weight[ev] = e0[ev]
            row["cloze_eval_rows_restored"] = cloze_acc(model)
        out.append(row)
        print(row, flush=True)
    pd.DataFrame(out).to_csv(Path(args.run) / "embedding_drift.csv", index=False)


if __name__ == "__main__":
    main()
