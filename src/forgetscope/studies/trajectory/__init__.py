"""The trajectory study (Zhang et al.). Stages, in the order they run (files sort the same way):

    s1_world_generate        the fact world's data and tokenizer          -> seed-<s>/1_world/
    s2_base_pretrain         the base model (tiny: pre-trained, cached)   -> seed-<s>/2_base/
    s3_model_finetune        fine-tuning, checkpoints on a schedule       -> seed-<s>/3_finetune/
    s4_checkpoints_evaluate  probes, bits/byte, responses of each model   -> seed-<s>/4_evaluate/
    s5_pattern_measure       KL and token-rank shift against the base     -> seed-<s>/5_pattern/
    s6_checkpoints_restore   restore every checkpoint (and the base), probe -> seed-<s>/6_restore/
    s7_results_analyze       tables, decomposition, CIs, summary.json     -> results/, summary.json
The report (forgetscope.report) renders summary.json and the tables into report.html.
"""
