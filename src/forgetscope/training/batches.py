"""Batches as a pure function of (seed, step): a stopped run resumes on exactly the batches it would
have seen, and N processes each take their share of the same global batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE = -100


def epoch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Indices of the global batch for `step` (0-based): reshuffled every epoch, from `seed`."""
    out = []
    start = step * batch_size
    for pos in range(start, start + batch_size):
        epoch, i = divmod(pos, n)
        out.append(_perm(n, seed, epoch)[i])
    return out


_PERM_CACHE: dict[tuple[int, int, int], list[int]] = {}


def _perm(n: int, seed: int, epoch: int) -> list[int]:
    key = (n, seed, epoch)
    if key not in _PERM_CACHE:
        if len(_PERM_CACHE) > 4:
            _PERM_CACHE.clear()
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        _PERM_CACHE[key] = torch.randperm(n, generator=g).tolist()
    return _PERM_CACHE[key]


class SFTBatches:
    """Supervised examples; labels mask what is not trained on. An example is a (prompt, completion)
    pair (loss on the completion) or a list of (text, in the loss) segments (data.sft_segments).
    Segments are tokenized one by one; an EOS ends the last trained segment unless it holds one.
    An example left with no trained token after the cut to `max_length` is dropped (as TRL's
    SFTTrainer drops fully masked examples); `dropped` counts them."""

    def __init__(self, examples: Sequence[tuple[str, str] | Sequence[tuple[str, bool]]], tokenizer, max_length: int, seed: int):
        self.pad = tokenizer.pad_token_id
        eos = tokenizer.eos_token_id
        segments = [[(ex[0], False), (ex[1], True)] if isinstance(ex[0], str) else list(ex) for ex in examples]
        flat = [text for segs in segments for text, _ in segs]
        ids_iter = iter(tokenizer(flat, add_special_tokens=False)["input_ids"]) if flat else iter(())
        self.examples: list[tuple[list[int], list[int]]] = []
        for segs in segments:
            pieces = [(next(ids_iter), on) for _, on in segs]
            trained = [k for k, (_, on) in enumerate(pieces) if on]
            if trained and eos is not None and eos not in pieces[trained[-1]][0]:
                k = trained[-1]
                pieces[k] = ([*pieces[k][0], eos], True)
            ids = [t for p, _ in pieces for t in p][:max_length]
            labels = [t if on else IGNORE for p, on in pieces for t in p][:max_length]
            if all(t == IGNORE for t in labels):
                continue
            self.examples.append((ids, labels))
        self.dropped = len(segments) - len(self.examples)
        if not self.examples:
            raise ValueError(f"no example keeps a trained token within max_length {max_length}: raise it")
        self.seed = seed

    def __len__(self) -> int:
        return len(self.examples)

    def global_indices(self, step: int, batch_size: int) -> list[int]:
        return epoch_indices(len(self.examples), batch_size, self.seed, step)

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = [self.examples[i] for i in indices]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (x, y) in enumerate(rows):
            ids[r, : len(x)] = torch.tensor(x)
            labels[r, : len(y)] = torch.tensor(y)
            mask[r, : len(x)] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    def label_tokens(self, indices: Sequence[int]) -> int:
        return sum(sum(1 for t in self.examples[i][1][1:] if t != IGNORE) for i in indices)


class LMBatches:
    """Texts joined with EOS into one token stream, cut into blocks of `max_length` (packing)."""

    def __init__(self, texts: Sequence[str], tokenizer, max_length: int, seed: int):
        eos = tokenizer.eos_token_id
        stream: list[int] = []
        for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            if eos is not None:
                stream.append(eos)
        n = len(stream) // max_length
        if n == 0:
            raise ValueError(f"the texts hold {len(stream)} tokens, fewer than one block of {max_length}")
        self.blocks = torch.tensor(stream[: n * max_length], dtype=torch.long).view(n, max_length)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.blocks)

    def global_indices(self, step: int, batch_size: int) -> list[int]:
        return epoch_indices(len(self.blocks), batch_size, self.seed, step)

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        ids = self.blocks[list(indices)]
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}

    def label_tokens(self, indices: Sequence[int]) -> int:
        return len(indices) * (self.blocks.shape[1] - 1)


class ReplayBatches:
    """Fine-tuning batches with a fixed share of replayed text (LMBatches blocks) in every global
    batch: round(share * batch_size) sequences from `replay`, the rest from `main`, each drawn as
    its own batches would draw them (a function of the step: resume is exact). An index below
    len(main) is a main example; len(main) + j is replay block j."""

    def __init__(self, main, replay: LMBatches, share: float):
        if not 0 <= share < 1:
            raise ValueError(f"replay share {share} must be in [0, 1)")
        self.main, self.replay, self.share = main, replay, share
        self.pad = getattr(main, "pad", 0)

    def __len__(self) -> int:
        return len(self.main) + len(self.replay)

    def replayed(self, batch_size: int) -> int:
        return round(self.share * batch_size)

    def global_indices(self, step: int, batch_size: int) -> list[int]:
        k = self.replayed(batch_size)
        main = self.main.global_indices(step, batch_size - k)
        offset = len(self.main)
        return main + [offset + j for j in self.replay.global_indices(step, k)] if k else main

    def _by_source(self, indices: Sequence[int]) -> tuple[list[int], list[int]]:
        """A step's fine-tuning examples and replayed blocks, as indices of this sampler."""
        n = len(self.main)
        return [i for i in indices if i < n], [i for i in indices if i >= n]

    def _split(self, indices: Sequence[int]) -> tuple[list[int], list[int]]:
        main, replay = self._by_source(indices)
        return main, [i - len(self.main) for i in replay]

    def apart(self, indices: Sequence[int]) -> list[list[int]]:
        """The groups of a step's examples that the training loop micro-batches apart: each source.
        Replayed blocks are full `max_length` blocks and fine-tuning examples mostly shorter; together,
        every example would be padded to a block's length (about twice the tokens at a 25% share;
        benchmarks/README.md, "The shared base on every core, replay apart"). The loop divides by the
        whole step's label tokens, so the update is the same sum."""
        return [g for g in self._by_source(indices) if g]

    def collate(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        parts = [b.collate(idx) for b, idx in zip((self.main, self.replay), self._split(indices), strict=True) if idx]
        width = max(p["input_ids"].shape[1] for p in parts)
        fill = {"input_ids": self.pad, "labels": IGNORE, "attention_mask": 0}
        return {k: torch.cat([torch.nn.functional.pad(p[k], (0, width - p[k].shape[1]), value=fill[k]) for p in parts])
                for k in fill}

    def label_tokens(self, indices: Sequence[int]) -> int:
        main, replay = self._split(indices)
        return (self.main.label_tokens(main) if main else 0) + (self.replay.label_tokens(replay) if replay else 0)
