"""A word-level Hugging Face tokenizer for the fact world: one token per word, built from the
world's vocabulary (not from its corpus), with a chat template, saved like any tokenizer."""

from __future__ import annotations

from collections.abc import Sequence

from forgetscope.world.lexicon import PUNCTUATION, SPECIAL_TOKENS, l1_words
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

# user/assistant turns; the assistant turn ends with <eos>, which stops generation.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}<user> {{ m['content'] }} "
    "{% elif m['role'] == 'assistant' %}<assistant> {{ m['content'] }} <eos> "
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def build_tokenizer(names: Sequence[str], l2_lexicon: dict[str, str] | None) -> PreTrainedTokenizerFast:
    """Vocabulary: special tokens, punctuation, every L1 word (with the world's people's names) and,
    with a second language, every L2 word."""
    l1 = l1_words(names)
    words = [*SPECIAL_TOKENS.values(), *PUNCTUATION, *l1]
    if l2_lexicon:
        words += [l2_lexicon[w] for w in [*PUNCTUATION, *l1]]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=SPECIAL_TOKENS["pad"],
        unk_token=SPECIAL_TOKENS["unk"],
        eos_token=SPECIAL_TOKENS["eos"],
        additional_special_tokens=[SPECIAL_TOKENS["user"], SPECIAL_TOKENS["assistant"]],
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf
