"""The training loop: completion-only loss, batches as a function of the step, resume = uninterrupted,
micro-batches = one batch."""

import torch

from forgetscope.models import TinyModelConfig, build_tiny_model
from forgetscope.training import LMBatches, SFTBatches, TrainConfig, train
from forgetscope.training.batches import IGNORE, epoch_indices
from forgetscope.training.config import CheckpointSchedule, log_spaced


def _model(tok, seed=0):
    return build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=seed)


def test_sft_labels_mask_the_prompt(tiny_world):
    tok = tiny_world.tokenizer()
    b = SFTBatches([("<user> what is 4 plus 5 ? <assistant>", " 9 <eos>")], tok, max_length=64, seed=0)
    ids, labels = b.examples[0]
    n_prompt = len(tok("<user> what is 4 plus 5 ? <assistant>", add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert tok.decode(labels[n_prompt:]) == "9 <eos>"
    assert ids[-1] == tok.eos_token_id


def test_epoch_indices_cover_each_epoch_once():
    n, bs = 10, 4
    seen = [i for step in range(5) for i in epoch_indices(n, bs, seed=3, step=step)]  # 20 = two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert epoch_indices(n, bs, 3, 2) == epoch_indices(n, bs, 3, 2)


def test_log_spaced_schedule():
    steps = log_spaced(10, 1000, 5)
    assert steps[0] == 10 and steps[-1] == 1000 and len(steps) == 5
    ratios = [b / a for a, b in zip(steps, steps[1:], strict=False)]
    assert max(ratios) / min(ratios) < 1.1
    assert CheckpointSchedule(steps=[5, 1, 5]).resolve(10) == [1, 5]


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_equals_uninterrupted(tmp_path, tiny_world):
    tok = tiny_world.tokenizer()
    pairs = [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in tiny_world.ift]
    cfg = TrainConfig(steps=8, batch_size=4, lr=3e-3, warmup_steps=2, lr_schedule="cosine")
    full = _model(tok)
    train(full, SFTBatches(pairs, tok, 64, seed=1), cfg, seed=1)

    saved = {}

    def save(m, step, state):
        saved["weights"] = _state(m)
        torch.save(state, tmp_path / "state.pt")

    first = _model(tok)
    train(first, SFTBatches(pairs, tok, 64, seed=1), cfg.model_copy(update={"steps": 8}), seed=1, save_steps=[5], save=save)
    resumed = _model(tok)
    resumed.load_state_dict(saved["weights"])
    train(resumed, SFTBatches(pairs, tok, 64, seed=1), cfg, seed=1, resume=(5, tmp_path / "state.pt"))
    for k, v in _state(full).items():
        torch.testing.assert_close(resumed.state_dict()[k], v)


def test_micro_batches_give_the_same_update(tiny_world):
    tok = tiny_world.tokenizer()
    pairs = [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in tiny_world.ift]
    a, b = _model(tok), _model(tok)
    cfg = TrainConfig(steps=3, batch_size=8, lr=1e-3, grad_clip=None)
    train(a, SFTBatches(pairs, tok, 64, seed=0), cfg, seed=0)
    train(b, SFTBatches(pairs, tok, 64, seed=0), cfg.model_copy(update={"grad_accum": 4}), seed=0)
    for k, v in _state(a).items():
        # float sums in another order; Adam magnifies them on near-zero gradients: 2% of one step at most
        torch.testing.assert_close(b.state_dict()[k], v, atol=2e-5, rtol=0)


def test_training_lowers_the_loss(tiny_world):
    tok = tiny_world.tokenizer()
    texts = [r["text"] for r in tiny_world.pretrain]
    m = _model(tok)
    res = train(m, LMBatches(texts, tok, 32, seed=0), TrainConfig(steps=40, batch_size=8, lr=3e-3), seed=0)
    assert sum(res.losses[-5:]) / 5 < sum(res.losses[:5]) / 5 - 0.5
    assert res.tokens == 40 * 8 * 32


def _absent_token_rows(tiny_world, tok, texts):
    """Ids of evaluation people's names: tokens that occur in none of `texts`."""
    ids = [tok.convert_tokens_to_ids(p.name) for p in tiny_world.split("eval")]
    present = {i for t in texts for i in tok(t)["input_ids"]}
    assert ids and not present & set(ids)
    return ids


def test_embedding_options_and_the_drift_of_absent_tokens(tiny_world):
    """The fact world's embedding-drift artefact and its two remedies, on a tiny model: trained on text
    that never names the evaluation people, their rows still move when the output layer is tied to
    the embeddings (every row gets a softmax gradient, and Adam scales even a tiny gradient up to a
    full step); `freeze_embeddings` keeps the whole matrix fixed while the rest trains; untied, the
    absent tokens' input rows get no gradient at all and stay exactly as they were."""
    tok = tiny_world.tokenizer()
    texts = [r["text"] for r in tiny_world.restore]
    ids = _absent_token_rows(tiny_world, tok, texts)
    cfg = TrainConfig(steps=5, batch_size=4, lr=3e-3)

    def run(model, **changes):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        train(model, LMBatches(texts, tok, 32, seed=0), cfg.model_copy(update=changes), seed=0)
        return before, model.state_dict()

    tied = _model(tok)
    assert tied.get_output_embeddings().weight is tied.get_input_embeddings().weight
    before, after = run(tied)
    emb = "model.embed_tokens.weight"
    assert not torch.equal(before[emb][ids], after[emb][ids])  # the drift: rows of tokens never seen

    frozen = _model(tok)
    before, after = run(frozen, freeze_embeddings=True)
    assert torch.equal(before[emb], after[emb])  # every row, the output layer with it (tied)
    assert any(not torch.equal(before[k], after[k]) for k in before if k != emb and "lm_head" not in k)

    untied = build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2, tie_embeddings=False), tok, seed=0)
    assert untied.get_output_embeddings().weight is not untied.get_input_embeddings().weight
    before, after = run(untied)
    assert torch.equal(before[emb][ids], after[emb][ids])  # no gradient reaches an absent token's input row
    assert not torch.equal(before[emb], after[emb])  # the present tokens' rows train
    assert not torch.equal(before["lm_head.weight"][ids], after["lm_head.weight"][ids])  # output rows still move


def _host_reads(monkeypatch):
    """Names of the tensor-to-host reads (item, tolist, float(t), int(t), bool(t), ...) made by the
    training step's code (training/loop.py) from now on: each one waits for the device on a GPU. Not
    counted: torch's internals (the optimizer's step counter is a CPU tensor) and the batch sampler
    (a permutation drawn on the CPU)."""
    import sys

    from forgetscope.training import loop

    src, reads = loop.__file__, []
    for name in ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__"):
        def wrapper(self, *a, _orig=getattr(torch.Tensor, name), _name=name, **k):
            if sys._getframe(1).f_code.co_filename == src:
                reads.append(_name)
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return reads


def test_host_reads_per_step(tiny_world, monkeypatch):
    """A step reads nothing from the device: its losses, gradient norm and tokens are read together every
    `sync_every` steps and after the last (before this change: 4 reads a step, one of them per micro-batch)."""
    tok = tiny_world.tokenizer()
    batches = LMBatches([r["text"] for r in tiny_world.pretrain], tok, 32, seed=0)
    cfg = TrainConfig(steps=8, batch_size=4, grad_accum=2)
    models = [_model(tok) for _ in range(3)]
    reads = _host_reads(monkeypatch)
    train(models[0], batches, cfg, seed=0, local=True, device="cpu", sync_every=4)
    assert reads == ["tolist"] * 2  # steps 4 and 8
    reads.clear()
    train(models[1], batches, cfg.model_copy(update={"steps": 6}), seed=0, local=True, device="cpu", sync_every=4, save_steps=[3],
          save=lambda m, step, state: None)
    assert reads == ["tolist"] * 3  # steps 3 (a checkpoint), 4 and 6 (the last)
    reads.clear()
    train(models[2], batches, cfg, seed=0, local=True, device="cpu")  # the CPU default: every step (costs nothing there)
    assert reads == ["tolist"] * 8


def test_losses_the_same_whenever_read(tiny_world):
    """Losses summed and divided on the device equal the host's float arithmetic bit for bit, read every
    step or every few; the first equals the untrained model's loss computed on the host."""
    from forgetscope.training.loop import token_nll_sum

    tok = tiny_world.tokenizer()
    batches = LMBatches([r["text"] for r in tiny_world.pretrain], tok, 32, seed=0)
    cfg = TrainConfig(steps=7, batch_size=6, grad_accum=2, lr=3e-3)
    runs = []
    for every in (1, 3, 100):
        seen = []
        m = _model(tok)
        r = train(m, batches, cfg, seed=0, local=True, device="cpu", sync_every=every, on_step=lambda s, loss: seen.append(loss))
        runs.append((r.losses, r.tokens, _state(m)))
        assert [float(x) for x in seen] == r.losses and all(x.dtype == torch.float64 for x in seen)
    assert runs[0][:2] == runs[1][:2] == runs[2][:2] and len(runs[0][0]) == 7 and runs[0][1] == 7 * 6 * 32
    for k, v in runs[0][2].items():
        assert torch.equal(runs[1][2][k], v) and torch.equal(runs[2][2][k], v)
    idx = batches.global_indices(0, 6)
    m = _model(tok).train()
    total = 0.0
    for part in (idx[0::2], idx[1::2]):
        total += float(token_nll_sum(m, batches.collate(part))[0].detach())
    assert runs[0][0][0] == total / batches.label_tokens(idx)


def test_a_late_read_still_stops_at_the_first_non_finite_step(tiny_world):
    """Read every 4 steps, a NaN at step 5 is found at step 6 (a checkpoint step, read before it is saved),
    named by its own step; at step 3 it is found at step 4. No checkpoint after it is saved."""
    import pytest

    from forgetscope.errors import NonFiniteError
    from forgetscope.training.loop import token_nll_sum

    tok = tiny_world.tokenizer()
    batches = LMBatches([r["text"] for r in tiny_world.pretrain[:20]], tok, 32, seed=0)
    for nan_at, save_steps, saved_before in ((5, [2, 6], [2]), (3, [2, 6], [2])):
        calls, saved = [], []

        def loss_fn(m, batch):
            calls.append(1)
            loss, n = token_nll_sum(m, batch)
            return (loss * float("nan") if len(calls) == nan_at else loss), n

        with pytest.raises(NonFiniteError, match=f"non-finite training loss \\(nan\\) at step {nan_at}:"):
            train(_model(tok), batches, TrainConfig(steps=8, batch_size=2), seed=0, loss_fn=loss_fn, local=True, device="cpu",
                  sync_every=4, save_steps=save_steps, save=lambda m, step, state: saved.append(step))
        assert saved == saved_before and len(calls) == (6 if nan_at == 5 else 4)


def test_a_written_out_checkpoint_schedule_resolves_as_the_one_it_came_from():
    """A run writes its config with every field (the default count included); read back, the schedule
    resolves as before: a default count over a short run gives the log-spaced steps there are, an
    asked-for count more than the steps is still refused."""
    import pytest

    from forgetscope.training.config import CheckpointSchedule

    default = CheckpointSchedule()
    again = CheckpointSchedule.model_validate(default.model_dump(mode="json"))
    assert again.resolve(5) == default.resolve(5) and len(default.resolve(5)) < default.count
    with pytest.raises(ValueError, match=r"checkpoints.count \(20\) is more than the training steps \(9\)"):
        CheckpointSchedule.model_validate(CheckpointSchedule(count=20).model_dump(mode="json")).resolve(9)
