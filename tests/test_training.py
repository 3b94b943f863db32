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
