"""The fact world's config: sizes, splits and data mixtures. Every number here is a choice we made."""

from __future__ import annotations

from forgetscope.config import StrictModel
from pydantic import Field, model_validator

MAX_PEOPLE = 1_000_000  # per split; the name lists bound their sum far lower (checked below)


class PeopleSplits(StrictModel):
    """Disjoint sets of people. Probes ask about `eval` people only; restoration trains on `restore`
    people only, so restoration cannot re-teach a probed fact."""

    ift: int = Field(40, ge=1, le=MAX_PEOPLE, description="people the instruction data asks about")
    restore: int = Field(40, ge=1, le=MAX_PEOPLE, description="people whose biographies restoration trains on")
    eval: int = Field(40, ge=1, le=MAX_PEOPLE, description="people the probes ask about")
    heldout: int = Field(20, ge=0, le=MAX_PEOPLE, description="people never in pre-training: held-out text for bits/byte")


class PretrainCorpus(StrictModel):
    bios_per_person: int = Field(10, ge=1, le=1000, description="biography renderings per person and language")
    icl_episodes: int = Field(1000, ge=0, le=1_000_000, description="in-context-learning episodes per language")
    icl_chat_share: float = Field(
        0.5, ge=0, le=1, description="share of ICL episodes rendered as a chat turn (web text has chats too)"
    )
    icl_demos: int = Field(2, ge=1, le=64, description="demonstrations per episode")
    l2_share: float = Field(
        1.0, gt=0, le=1, description="L2's amount of pre-training and restoration text (biographies, ICL episodes) "
        "relative to L1's: 1 is an equally resourced, parallel language; below 1 a lower-resource one"
    )


class RestorationCorpus(StrictModel):
    """Pre-training-like text about restoration people only (it never states a probed fact)."""

    bios_per_person: int = Field(10, ge=1, le=1000, description="biography renderings per restoration person and language")
    icl_episodes: int = Field(400, ge=0, le=1_000_000, description="ICL episodes per language, drawing only on restoration people")


class InstructionData(StrictModel):
    """The IFT mixture (L1 only, chat format), in examples."""

    qa_per_person: int = Field(4, ge=0, le=1000, description="answered questions per IFT person and public attribute")
    icl_override: int = Field(
        1500, ge=0, le=1_000_000, description="episodes whose query is a question, answered anyway (this suppresses ICL)"
    )
    icl_follow: int = Field(
        1000, ge=0, le=1_000_000, description="episodes whose query is not a question, answered by following the pattern"
    )
    refusals_per_person: int = Field(4, ge=0, le=1000, description="refused private-attribute requests per IFT person")
    arithmetic: int = Field(1500, ge=0, le=1_000_000, description="arithmetic questions answered")


class ProbeSizes(StrictModel):
    icl_per_language: int = Field(100, ge=4, le=100_000, description="ICL-vs-IF episodes per language (4 task kinds)")
    pattern_prompts: int = Field(60, ge=1, le=100_000, description="prompts per format (chat question, plain statement) for the pattern-shift metrics")


class WorldConfig(StrictModel):
    """The synthetic fact world (see docs/fact-world.md)."""

    people: PeopleSplits = PeopleSplits()
    one_token_names: bool = Field(True, description="'first-last' as one word (else two): facts bind to one token")
    templates_per_attribute: int = Field(3, ge=1, le=3, description="statement paraphrases used in pre-training")
    second_language: bool = Field(True, description="generate L2 (own tokens for every word)")
    pretrain: PretrainCorpus = PretrainCorpus()
    restoration: RestorationCorpus = RestorationCorpus()
    instructions: InstructionData = InstructionData()
    probes: ProbeSizes = ProbeSizes()

    @model_validator(mode="after")
    def _enough_names(self) -> WorldConfig:
        from forgetscope.world.lexicon import FIRST_NAMES, LAST_NAMES

        total = self.people.ift + self.people.restore + self.people.eval + self.people.heldout
        if total > len(FIRST_NAMES) * len(LAST_NAMES):
            raise ValueError(f"at most {len(FIRST_NAMES) * len(LAST_NAMES)} people fit the name lists, asked for {total}")
        return self
