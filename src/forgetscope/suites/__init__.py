"""Capability suites of the conjugate study, one per file (docs/conjugate.md):

    icl_if      ICL vs instruction following: capitalize / repeat x arithmetic / blanked first word
    reasoning   XNLI-style premise / hypothesis, True / False / Neither by log-likelihood
    refusal     refusal rate on user prompts (keyword rule), scored as answer rate
    fact_world  the synthetic world's ICL-vs-IF episodes and private-attribute requests, L1 and L2

Each turns its data into probe items under one transform (forgetscope.transforms).
"""

from forgetscope.registry import Entry, Registry  # noqa: E402

# The model suites a conjugate config names by key (the fact-world suite reads a trajectory run's
# world instead; studies/conjugate uses it directly).
SUITES = Registry("suite", [
    Entry("icl_if", "forgetscope.suites.icl_if:IclIfSuite", "ICL vs instruction following"),
    Entry("reasoning", "forgetscope.suites.reasoning:ReasoningSuite", "XNLI-style reasoning"),
    Entry("refusal", "forgetscope.suites.refusal:RefusalSuite", "refusal rate on user prompts"),
])
