"""Fine-tune a model with TRL's SFTTrainer, keeping `checkpoint-N` folders: a fine-tuning run as users
already have one, for `finetune.checkpoints_from` (docs/bring-your-own.md).

    python examples/smollm2/trl_sft.py MODEL_DIR OUT_DIR [--lr 5e-4] [--steps 24] [--save-steps 8] [--lora]

The chats of examples/smollm2/data/sft.jsonl are passed to TRL as conversational prompt/completion
rows (the user turn, the assistant turn), so TRL puts the loss on the completion only, as
forgetscope's own fine-tuning does (`finetune.loss: completion`). Checkpoints keep the model only
(`save_only_model`): no optimizer pickles.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DATA = Path(__file__).parent / "data" / "sft.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--save-steps", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--lora", action="store_true", help="train a LoRA adapter (r 16) instead of all weights")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(1)
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    peft_config = None
    if args.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    cfg = SFTConfig(
        output_dir=args.out, max_steps=args.steps, save_steps=args.save_steps, save_only_model=True,
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr, lr_scheduler_type="constant",
        warmup_steps=0, max_length=args.max_length, logging_steps=1, report_to="none", seed=args.seed,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=peft_config)
    start = time.perf_counter()
    trainer.train()
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.0f} s; checkpoints in {args.out}")


if __name__ == "__main__":
    main()
