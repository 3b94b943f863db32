"""How often the fact world's models answer an L2 prompt in L1, and what counting the answer in
either language changes (docs/conjugate.md): per checkpoint and language, the ICL episodes whose reply
starts with an L1 word, the pattern score, `followed_instruction` counted in the prompt's language
only (before) and in either language (now), refusals, and `leaked` before and now.

    python benchmarks/l2_replies.py RUN_DIR 10 32 104 600      # a finished trajectory run, seed 0
"""

from __future__ import annotations

import argparse
import json

import torch

from forgetscope.evaluation.probe_runner import run_probes
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.suites.base import TransformSpec
from forgetscope.suites.fact_world import FactWorldConfig, FactWorldSuite
from forgetscope.views import TrajectoryRun
from forgetscope.world.lexicon import PUNCTUATION, l1_words


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("steps", nargs="+", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = TrajectoryRun(args.run)
    wd, tok = run.world_dir(args.seed), run.tokenizer(args.seed)
    world = json.loads((wd / "world.json").read_text())
    l1 = set(l1_words([p["name"] for p in world["people"]])) | set(PUNCTUATION)
    suite = FactWorldSuite(FactWorldConfig(run="x"), wd)
    for step in args.steps:
        sc = NativeScorer(run.load_model(args.seed, step), tok, batch_size=64)
        for name in ("identity", "world_l2"):
            tr = suite.build(TransformSpec(name=name))
            items = suite.items(tr)
            rows = run_probes(sc, items, suite.settings(tr))
            one_language = [it.model_copy(update={"meta": {**it.meta, "if_answer_alternatives": [], "answer_alternatives": []}})
                            for it in items]
            before = run_probes(sc, one_language, suite.settings(tr))
            icl = [(r, b) for r, b in zip(rows, before, strict=True) if r["kind"] == "starts_with"]
            prv = [(r, b) for r, b in zip(rows, before, strict=True) if r["kind"] == "refusal"]
            in_l1 = sum(1 for r, _ in icl if r["output"].split()[:1] and r["output"].split()[0] in l1)
            print(f"step {step} {name}: icl n={len(icl)}, reply starts with an L1 word {in_l1}, pattern score "
                  f"{sum(r['score'] for r, _ in icl):.0f}, followed_instruction before {sum(b['followed_instruction'] for _, b in icl):.0f} "
                  f"now {sum(r['followed_instruction'] for r, _ in icl):.0f}; private n={len(prv)}, refused "
                  f"{sum(r['score'] for r, _ in prv):.0f}, leaked before {sum(b['leaked'] for _, b in prv):.0f} "
                  f"now {sum(r['leaked'] for r, _ in prv):.0f}", flush=True)


if __name__ == "__main__":
    main()
