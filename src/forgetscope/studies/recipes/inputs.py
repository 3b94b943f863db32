"""Where a recipe's inputs are: the world, base, tokenizer and data of a trajectory run (read through
forgetscope.views, as one study reads another's run), and the stage and file names of this study."""

from __future__ import annotations

from pathlib import Path

from forgetscope.data import as_source, detect_format, lm_texts, load_rows, sft_segments
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem, load_items
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.models import load_model
from forgetscope.studies.common_config import WORLD
from forgetscope.training import LMBatches, SFTBatches
from forgetscope.views import TrajectoryRun
from forgetscope.world.build import read_l2_lexicon

KL_STAGE = "1_forward_kl"  # per seed, in this study's run folder: one unit per recipe
KL_FILE = "forward_kl.parquet"
INTERP_STAGE = "2_interpolation"  # per seed: one unit per swept recipe
INTERP_FILE = "interpolation.parquet"


def recipe_dir(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / "recipes" / name


class RecipeInputs:
    """What training and measuring a recipe read for one seed, from the trajectory run `source` (a
    recipe's run whose world and base are made): the fact world's files there, or the configured
    data sources and pretrained base."""

    def __init__(self, cfg, source: str | Path, seed: int):
        self.cfg, self.run, self.seed = cfg, TrajectoryRun(source), seed
        self.tiny = cfg.base.kind == "tiny"

    def ref(self, ref, world_file: str):
        return str(self.run.world_dir(self.seed) / world_file) if ref == WORLD else ref

    def rows(self, ref, world_file: str) -> tuple[list[dict], str]:
        ref = self.ref(ref, world_file)
        return load_rows(ref), as_source(ref).label

    @property
    def base_path(self) -> str:
        return str(self.run.model_path(self.seed, 0)) if self.tiny else self.cfg.base.path

    def tokenizer(self):
        return self.run.tokenizer(self.seed) if self.tiny else self.cfg.base.load_tokenizer()

    def probe_items(self) -> list[ProbeItem]:
        return load_items(self.ref(self.cfg.eval.probes, "probes.jsonl"))

    def probe_settings(self) -> ProbeSettings:
        """As the trajectory's evaluation probes run (the recipe's run folder has the world when there is one)."""
        world = self.run.world_dir(self.seed)
        lex = read_l2_lexicon(world, required=False) if (world / "world.json").exists() else None
        return ProbeSettings.for_eval(self.cfg.eval.max_new_tokens, self.cfg.eval.stop, lex)

    def load(self, path: str | Path, device):
        """A model or checkpoint folder (an adapter merged into its base)."""
        if self.tiny:
            return load_model(path, device=device)
        return self.cfg.base.load_model(device, path=str(path))

    def finetune_batches(self, tok, seed: int):
        """The fine-tuning data as the trajectory's fine-tuning reads it: SFT (masked as finetune.loss
        says) or packed LM blocks for `text` rows."""
        ft = self.cfg.finetune
        rows, label = self.rows(ft.data, "ift.jsonl")
        try:
            if detect_format(rows, label) == "text":
                return LMBatches(lm_texts(rows, label), tok, ft.train.max_length, seed=seed)
            return SFTBatches(sft_segments(rows, tok, label, ft.loss), tok, ft.train.max_length, seed=seed)
        except ValueError as e:
            raise UserError(f"finetune.data: {label}: {e}") from None

    def replay_batches(self, tok, seed: int) -> LMBatches:
        rows, label = self.rows(self.cfg.restore.data, "restore.jsonl")
        try:
            return LMBatches(lm_texts(rows, label), tok, self.cfg.finetune.train.max_length, seed=seed)
        except ValueError as e:
            raise UserError(f"replay: restore.data: {label}: {e}") from None


