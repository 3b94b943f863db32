"""The trajectory study's oracle: summary.json recomputed from each seed's probe items
(seed-*/4_evaluate, seed-*/6_restore *.items.parquet), bits/byte tables and pattern tables, by the
stage rule of docs/concepts.md (B base, F checkpoint, R restored, R0 restored base, δ):

    forgetting = B − F, gap = R0 − R, control drop = B − R0
    point label: forgetting ≤ δ → none; control drop > δ → uncertain; gap > δ → actual; else pseudo
    label_ci:    forgetting_hi ≤ δ → none; forgetting_lo ≤ δ → uncertain; seed-mean control drop > δ
                 → uncertain; gap_lo > δ → actual (if every larger budget of the restorer says actual,
                 else uncertain, saturated false); gap_hi ≤ δ → pseudo; else uncertain

Intervals: a t-interval over seeds; with one seed the paired item bootstrap, replicate b drawing the
items by numpy.random.default_rng(seed).multinomial (the documented scheme, docs/concepts.md)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from .common import EPS, config, same, t_interval

STATS = ("score", "restored", "forgetting", "recovered", "unrecovered", "gap", "base", "restored_base")


def check(run) -> None:
    cfg, s = config(run), json.loads((run / "summary.json").read_text())
    a, seeds = cfg["analysis"], cfg["seeds"]
    delta, level = a["delta"], a["ci_level"]
    items = _read(run, seeds, "items")
    restorers = s["restorers"]
    assert {r["condition"] for r in restorers} | {"checkpoint"} == set(items["condition"]), "restorers vs item conditions"
    lead = restorers[0]
    larger = [r["condition"] for r in restorers[1:] if r["name"] == lead["name"] and r["budget"] > lead["budget"]]
    knowledge = sorted(items.loc[items["kind"] != "refusal", "probe"].unique())
    rows = {(p, r["condition"]): _decompose(items, p, r["condition"], seeds, a) for p in knowledge for r in restorers}

    primary = a["primary_probe"] if a["primary_probe"] in knowledge else knowledge[0]
    assert s["probe"] == primary and s["delta"] == delta and s["seeds"] == seeds
    assert set(s["probes"]) == set(knowledge)
    for p in knowledge:
        _check_probe(s["probes"][p], rows, p, lead["condition"], larger, delta, f"probes.{p}")
    head = s["probes"][primary]
    same({k: s[k] for k in ("base", "restored_base", "transition_step", "ci", "checkpoints")},
         {k: head[k] for k in ("base", "restored_base", "transition_step", "ci")} | {"checkpoints": _no_others(head["checkpoints"])},
         "summary (the primary probe)")
    for ck in s["checkpoints"]:
        for r in restorers[1:]:
            row = rows[primary, r["condition"]].loc[ck["step"]]
            same(ck["other_restorers"][r["condition"]], {"score": row["restored"], "ci": [row["restored_lo"], row["restored_hi"]]},
                 f"checkpoints[step {ck['step']}].other_restorers.{r['condition']}")
    damaged = [{"probe": p, "restorer": c, "base": t.loc[0, "base"], "restored_base": t.loc[0, "restored_base"],
                "drop": t.loc[0, "base"] - t.loc[0, "restored_base"]}
               for (p, c), t in rows.items() if t.loc[0, "base"] - t.loc[0, "restored_base"] > delta + EPS]
    key = lambda d: (d["probe"], d["restorer"])  # noqa: E731
    same(sorted(s["damaged_controls"], key=key), sorted(damaged, key=key), "damaged_controls")
    _check_findings(s["findings"], s["checkpoints"], delta)
    _check_curve(s["restoration_curve"], run, items, primary, restorers, seeds, level)
    _check_rates(s["rates"], items, level)
    _check_pattern(s["pattern_shift"], _read(run, seeds, "pattern"), level)
    _check_bits(s["bits_per_byte"], _read(run, seeds, "bpb"), run, seeds, level)


def _read(run, seeds, kind: str) -> pd.DataFrame:
    """Every seed's own tables of one kind (items, bpb, curve, pattern), as the stages wrote them."""
    pattern = {"items": "*.items.parquet", "bpb": "*.bpb.parquet", "curve": "*.curve.parquet", "pattern": "pattern.parquet"}[kind]
    files = [f for seed in seeds for f in sorted((run / f"seed-{seed}").glob(f"*/{pattern}"))]
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def label(B, F, R, R0, delta: float) -> str:
    if B - F <= delta + EPS:
        return "none"
    if B - R0 > delta + EPS:
        return "uncertain"
    return "actual" if R0 - R > delta + EPS else "pseudo"


def label_ci(row, delta: float) -> str:
    above = lambda x: not math.isnan(x) and x > delta + EPS  # noqa: E731  (an undefined bound decides nothing)
    if row["forgetting_hi"] <= delta + EPS:
        return "none"
    if not above(row["forgetting_lo"]) or above(row["base"] - row["restored_base"]):
        return "uncertain"
    if above(row["gap_lo"]):
        return "actual"
    return "pseudo" if row["gap_hi"] <= delta + EPS else "uncertain"


def _decompose(items, probe, condition, seeds, a) -> pd.DataFrame:
    """One row per step (0 = the base): every statistic's seed mean and interval, the label of the
    means and each seed's label."""
    per_seed = []
    for seed in seeds:
        sub = items[(items["probe"] == probe) & (items["seed"] == seed)]
        ck = sub[sub["condition"] == "checkpoint"].pivot_table(index="item_id", columns="step", values="score", aggfunc="mean")
        rs = sub[sub["condition"] == condition].pivot_table(index="item_id", columns="step", values="score", aggfunc="mean")
        rs = rs.reindex(ck.index)
        if 0 not in rs.columns:  # a restorer that leaves the base as it is (interpolation)
            rs[0] = ck[0]
        steps = sorted(x for x in ck.columns if x != 0 and x in rs.columns)
        mat = np.column_stack([ck[0], rs[0], *[c for x in steps for c in (ck[x], rs[x])]])
        mat = mat[~np.isnan(mat).any(axis=1)]
        n = len(mat)
        boots = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=a["n_bootstrap"]) @ mat / n
        q = (1 - a["ci_level"]) / 2
        for j, step in enumerate([0, *steps]):
            f, r = (0, 1) if step == 0 else (2 * j, 2 * j + 1)
            point, boot = _stats(mat.mean(0), f, r), _stats(boots, f, r)
            row = {"seed": seed, "step": step, "label": label(point["base"], point["score"], point["restored"], point["restored_base"],
                                                              a["delta"])}
            for k in STATS:
                row[k] = point[k]
                row[f"{k}_lo"], row[f"{k}_hi"] = np.quantile(boot[k], [q, 1 - q])
            per_seed.append(row)
    df = pd.DataFrame(per_seed)
    out = {}
    for step, g in df.groupby("step"):
        g = g.set_index("seed").loc[seeds]
        row = {"label_by_seed": list(g["label"])}
        for k in STATS:
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = t_interval(g[k], a["ci_level"])
            if len(seeds) == 1:
                row[f"{k}_lo"], row[f"{k}_hi"] = g[f"{k}_lo"].iat[0], g[f"{k}_hi"].iat[0]
        row["label"] = label(row["base"], row["score"], row["restored"], row["restored_base"], a["delta"])
        out[step] = row
    return pd.DataFrame.from_dict(out, orient="index")


def _stats(m, f: int, r: int) -> dict:
    """The statistics from condition means m[..., :] (column 0 = B, 1 = R0, f = F, r = R)."""
    B, R0, F, R = m[..., 0], m[..., 1], m[..., f], m[..., r]
    return {"score": F, "restored": R, "forgetting": B - F, "recovered": R - F, "unrecovered": B - R, "gap": R0 - R,
            "base": B, "restored_base": R0}


def _check_probe(got: dict, rows, probe, lead, larger, delta, where) -> None:
    t = rows[probe, lead]
    ci = lambda row, k: [row[f"{k}_lo"], row[f"{k}_hi"]]  # noqa: E731
    want = []
    for step, r in t[t.index > 0].iterrows():
        lab = label_ci(r, delta)
        saturated = None
        if lab == "actual" and larger:
            saturated = all(step in rows[probe, c].index and label_ci(rows[probe, c].loc[step], delta) == "actual" for c in larger)
            lab = "actual" if saturated else "uncertain"
        want.append({"step": int(step), "score": r["score"], "restored": r["restored"], "forgetting": r["forgetting"],
                     "recovered": r["recovered"], "unrecovered": r["unrecovered"], "gap_to_restored_base": r["gap"],
                     "label": r["label"], "label_by_seed": r["label_by_seed"], "label_ci": lab, "saturated": saturated,
                     "ci": {k: ci(r, k) for k in ("score", "restored", "forgetting", "recovered", "unrecovered", "gap")}})
    actual = [c["step"] for c in want if c["label_ci"] == "actual"]
    b = t.loc[0]
    same(got, {"base": b["base"], "restored_base": b["restored_base"], "ci": {"base": ci(b, "base"), "restored_base": ci(b, "restored_base")},
               "transition_step": actual[0] if actual else None, "checkpoints": want}, where)


def _no_others(checkpoints: list[dict]) -> list[dict]:
    return [{k: v for k, v in c.items() if k != "other_restorers"} for c in checkpoints]


def _check_findings(findings: list[dict], cks: list[dict], delta: float) -> None:
    """Pseudo (actual) forgetting holds when some checkpoint is pseudo (actual) by label_ci and fails
    when every one is none or actual (none or pseudo); the transition holds when, in step order and
    leaving out none and uncertain, the labels read pseudo … pseudo actual … actual, and fails when a
    pseudo follows an actual."""
    labels = [c["label_ci"] for c in cks]
    got = {f["id"]: f for f in findings}
    pseudo = [c for c in cks if c["label_ci"] == "pseudo"]
    actual = [c for c in cks if c["label_ci"] == "actual"]
    v_pseudo = "holds" if pseudo else "fails" if set(labels) <= {"none", "actual"} else "uncertain"
    v_actual = "holds" if actual else "fails" if set(labels) <= {"none", "pseudo"} else "uncertain"
    assert got["pseudo_forgetting"]["verdict"] == v_pseudo, (got["pseudo_forgetting"]["verdict"], labels)
    assert got["actual_forgetting"]["verdict"] == v_actual, (got["actual_forgetting"]["verdict"], labels)
    if pseudo:
        worst = max(pseudo, key=lambda c: c["forgetting"])
        same([got["pseudo_forgetting"]["value"], got["pseudo_forgetting"]["ci"]], [worst["forgetting"], worst["ci"]["forgetting"]], "pseudo_forgetting")
    if actual:
        same([got["actual_forgetting"]["value"], got["actual_forgetting"]["ci"]], [actual[0]["gap_to_restored_base"], actual[0]["ci"]["gap"]],
             "actual_forgetting")
    seq = [lab for lab in labels if lab in ("pseudo", "actual")]
    if pseudo and actual:
        v_transition = "holds" if seq == sorted(seq, key=("pseudo", "actual").index) else "fails"
        assert got["stage_transition"]["value"] == actual[0]["step"]
    else:
        v_transition = "fails" if "fails" in (v_pseudo, v_actual) else "uncertain"
    assert got["stage_transition"]["verdict"] == v_transition, (got["stage_transition"]["verdict"], labels)


def _check_curve(got: list[dict], run, items, primary, restorers, seeds, level) -> None:
    """The primary probe's restored score against the budget (0 = the checkpoint as fine-tuned), for
    the restorers of the first one's kind: end points and the saved curve points."""
    kin = [r for r in restorers if r["name"] == restorers[0]["name"]]
    p = items[items["probe"] == primary]
    parts = [p[p["condition"] == "checkpoint"].assign(budget=0.0)]
    parts += [p[p["condition"] == r["condition"]].assign(budget=float(r["budget"])) for r in kin]
    curve = _read(run, seeds, "curve")
    if not curve.empty:
        curve = curve[curve["probe"] == primary]
        parts += [curve[curve["condition"] == r["condition"]].assign(budget=lambda d, r=r: d["fraction"] * r["budget"]) for r in kin]
    df = pd.concat(parts, ignore_index=True)
    want = []
    for (step, budget), g in df.groupby(["step", "budget"]):
        m, lo, hi = t_interval(g.groupby("seed")["score"].mean(), level)
        want.append({"step": int(step), "budget": float(budget), "score": m, "ci": [lo, hi]})
    same(got, want, "restoration_curve")


def _check_rates(got: dict, items, level) -> None:
    refusal = items[items["kind"] == "refusal"]
    assert set(got) == set(refusal["probe"].unique()), "rates: probes"
    for (probe, cond), g in refusal.groupby(["probe", "condition"]):
        want = []
        for step, h in g.groupby("step"):
            m, lo, hi = t_interval(h.groupby("seed")["score"].mean(), level)
            want.append({"step": int(step), "rate": m, "ci": [lo, hi]})
        same(got[probe][cond], want, f"rates.{probe}.{cond}")


def _check_pattern(got: list[dict], pattern, level) -> None:
    want = []
    for (fmt, step), g in pattern.groupby(["format", "step"]):
        row = {"format": fmt, "step": int(step)}
        for k in ("kl", "unshifted", "marginal", "shifted"):
            m, lo, hi = t_interval(g.sort_values("seed")[k], level)
            row[k], row[f"{k}_ci"] = m, [lo, hi]
        want.append(row)
    same(got, want, "pattern_shift")


def _check_bits(got: list[dict], bpb, run, seeds, level) -> None:
    """bits/byte = total bits over total UTF-8 bytes of the held-out text, less the bytes of the words
    no training text contains (each with the whitespace before it), per language."""
    for seed in seeds:
        texts = [json.loads(x) for x in (run / f"seed-{seed}" / "1_world" / "heldout.jsonl").read_text().splitlines() if x.strip()]
        n_bytes = {}
        for t in texts:
            skip = sum(len(m.group().encode()) for m in re.finditer(r"\s*(\S+)", t["text"]) if m.group(1) in set(t.get("untrained") or []))
            n_bytes[t.get("language", "all")] = n_bytes.get(t.get("language", "all"), 0) + len(t["text"].encode()) - skip
        mine = bpb[bpb["seed"] == seed]
        assert len(mine) and (mine["bytes"] == mine["language"].map(n_bytes)).all(), f"seed {seed}: bytes {mine['bytes'].tolist()} vs {n_bytes}"
    np.testing.assert_allclose(bpb["bits_per_byte"], bpb["bits"] / bpb["bytes"], rtol=1e-12)
    want = []
    for (cond, step, lang), g in bpb.groupby(["condition", "step", "language"]):
        m, lo, hi = t_interval(g.sort_values("seed")["bits_per_byte"], level)
        want.append({"condition": cond, "step": int(step), "language": lang, "bits_per_byte": m, "ci": [lo, hi]})
    same(got, want, "bits_per_byte")
