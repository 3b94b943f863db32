"""Translation by a local machine-translation model (Marian, T5, NLLB, M2M100, ...) through transformers.

Safetensors weights only, no remote code unless asked, nothing downloaded (`local_files_only`).
The folder is checked when the transform is built; the weights load on the first translation.
Every distinct text is translated once per transform (a cache), in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forgetscope.errors import UserError
from forgetscope.models.checks import check_model_folder, check_tokenizer_files
from forgetscope.models.loading import DTYPES
from forgetscope.transforms.base import Transform

RULE = (
    "mt_model: the text is translated by the local sequence-to-sequence model in {path}, "
    "{decoding}, at most {max_new_tokens} new tokens, in batches of {batch_size}{prefix}{target}. "
    "Each distinct text is translated once and cached, so a text repeated across prompts always gets "
    "the same translation. The expected answer is the model's translation of the pattern answer on "
    "its own; when the answer is a word of the prompt (the ICL tasks' first word), a suite should rather "
    "take that word from the translated prompt, since a word out of context may translate differently. "
    "Not invertible."
)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "source.spm", "spiece.model",
                    "sentencepiece.bpe.model", "vocab.json")


_OPTION_MAX = {"num_beams": 64, "batch_size": 65_536, "max_new_tokens": 4096}


class MTModelTranslation(Transform):
    name = "mt_model"
    wordwise = False

    def __init__(
        self,
        path: str | Path,
        *,
        num_beams: int = 1,
        batch_size: int = 16,
        max_new_tokens: int = 256,
        prefix: str = "",
        source_lang: str | None = None,
        target_lang: str | None = None,
        device: str = "cpu",
        dtype: str = "fp32",
        trust_remote_code: bool = False,
    ):
        """`prefix` is prepended to every input (T5: "translate English to French: "; multi-target
        Marian: ">>fra<< "). `source_lang` sets the tokenizer's `src_lang`, `target_lang` forces the
        first generated token to that language code (NLLB: "fra_Latn", M2M100: "fr")."""
        for key, value in (("num_beams", num_beams), ("batch_size", batch_size), ("max_new_tokens", max_new_tokens)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _OPTION_MAX[key]:
                raise UserError(f"transform 'mt_model': option {key!r} must be an integer in 1..{_OPTION_MAX[key]}, got {value!r}")
        if dtype not in (*DTYPES, "auto"):
            raise UserError(f"transform 'mt_model': option 'dtype' must be one of {', '.join([*DTYPES, 'auto'])}, got {dtype!r}")
        self.path = Path(path).expanduser()
        self.num_beams, self.batch_size, self.max_new_tokens = num_beams, batch_size, max_new_tokens
        self.prefix, self.source_lang, self.target_lang = prefix, source_lang, target_lang
        self.device, self.dtype, self.trust_remote_code = device, dtype, trust_remote_code
        self.cache: dict[str, str] = {}
        self.n_translated = 0  # texts the model has translated (cache misses)
        self._model = self._tokenizer = None
        self._check_folder()

    @property
    def label(self) -> str:
        return f"mt_model:{self.path.name}"

    def _check_folder(self) -> None:
        check_model_folder(self.path)
        if (self.path / "adapter_config.json").exists():
            raise UserError(f"{self.path}: an adapter folder; mt_model needs a full translation model folder")
        check_tokenizer_files(self.path, _TOKENIZER_FILES)
        from transformers import AutoConfig

        try:
            cfg = AutoConfig.from_pretrained(self.path, local_files_only=True, trust_remote_code=self.trust_remote_code)
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{self.path}: could not read config.json: {_first_line(e)}") from None
        if not getattr(cfg, "is_encoder_decoder", False):
            raise UserError(f"{self.path}: a {cfg.model_type!r} model is not a sequence-to-sequence translation model "
                            f"(mt_model needs e.g. a Marian, T5, NLLB or M2M100 folder)")

    def load(self) -> None:
        """Load tokenizer and weights (done by the first translation; call it to fail early)."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True, trust_remote_code=self.trust_remote_code)
        except (OSError, ValueError, ImportError, KeyError, TypeError) as e:
            raise UserError(f"{self.path}: could not load the tokenizer: {_first_line(e)}") from None
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(
                self.path, use_safetensors=True, local_files_only=True, trust_remote_code=self.trust_remote_code,
                dtype=DTYPES.get(self.dtype, "auto"),
            )
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{self.path}: could not load the translation model: {_first_line(e)}") from None
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        if self.source_lang is not None:
            tok.src_lang = self.source_lang
        self._forced_bos = None
        if self.target_lang is not None:
            tid = tok.convert_tokens_to_ids(self.target_lang)
            if tid is None or tid == tok.unk_token_id:
                raise UserError(f"{self.path}: target_lang {self.target_lang!r} is not a token of this tokenizer")
            self._forced_bos = tid
        self._torch = torch
        self._tokenizer, self._model = tok, model.to(self.device).eval()

    def unload(self) -> None:
        """Free the model's memory; the cache stays."""
        self._model = self._tokenizer = None

    def apply(self, text: str) -> str:
        return self.apply_many([text])[0]

    def apply_many(self, texts: Sequence[str]) -> list[str]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for t in [t for t in todo if not t.strip()]:  # nothing to translate
            self.cache[t] = t
        todo = [t for t in todo if t.strip()]
        for i in range(0, len(todo), self.batch_size):
            batch = todo[i : i + self.batch_size]
            self.cache.update(zip(batch, self._translate(batch), strict=True))
        return [self.cache[t] for t in texts]

    def _translate(self, batch: list[str]) -> list[str]:
        self.load()
        tok, model, torch = self._tokenizer, self._model, self._torch
        enc = tok([self.prefix + t for t in batch], return_tensors="pt", padding=True).to(self.device)
        kwargs = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams, "do_sample": False}
        if self._forced_bos is not None:
            kwargs["forced_bos_token_id"] = self._forced_bos
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        self.n_translated += len(batch)
        return [s.strip() for s in tok.batch_decode(out, skip_special_tokens=True)]

    def describe(self) -> str:
        decoding = "greedy decoding" if self.num_beams == 1 else f"beam search with {self.num_beams} beams"
        prefix = f", each input prefixed with {self.prefix!r}" if self.prefix else ""
        target = f", target language token {self.target_lang!r}" if self.target_lang else ""
        return RULE.format(path=self.path, decoding=decoding, max_new_tokens=self.max_new_tokens,
                           batch_size=self.batch_size, prefix=prefix, target=target)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
