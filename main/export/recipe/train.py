#!/usr/bin/env python3
"""Train a Tunesmith run again on one or many GPUs, with Hugging Face accelerate (FSDP or DeepSpeed).

Everything about the run is in recipe.json beside this file: the model, the method (full, LoRA,
rsLoRA, QLoRA, LISA) and its hyper-parameters. The examples are in data/, already templated and
tokenized as Tunesmith trained them (input_ids, and labels that are -100 where the loss does not
count), and data/order.txt lists which examples each of Tunesmith's optimizer steps took. So the
cluster trains on the same tokens, in the same order, with the same loss.

The loss of a step is Tunesmith's: per micro-batch, the mean negative log-likelihood over the
target tokens of all its rows (on every process together), averaged over the micro-batches of the
step. Each optimizer step prints "step N: loss X" with that number.

    accelerate launch --config_file accelerate/fsdp.yaml train.py
    accelerate launch --multi_gpu --num_processes 2 train.py --max-steps 3   # a smoke test, GPUs or not
"""

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from transformers import AutoModelForCausalLM

HERE = Path(__file__).resolve().parent

# Files that make an output folder a complete model Tunesmith (and transformers) can open.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja")


def parse_args():
    p = argparse.ArgumentParser(description="Train a Tunesmith run with accelerate (see README.md).")
    p.add_argument("--recipe", default=str(HERE / "recipe.json"), help="the run's settings (default: recipe.json beside this script)")
    p.add_argument("--model", help="the base model: a local folder or a Hugging Face Hub id (default: the one in recipe.json)")
    p.add_argument("--output-dir", default=str(HERE / "output"), help="where the trained model or adapter goes (default: output/)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (a smoke test)")
    p.add_argument("--per-device-batch-size", type=int, help="rows per process and micro-batch (default: Tunesmith's batch split over the processes)")
    p.add_argument("--grad-accum", type=int, help="micro-batches per optimizer step (default: Tunesmith's)")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out loss on data/val.jsonl at the end")
    return p.parse_args()


def fail(message):
    print(f"train.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if len(row.get("input_ids", [])) != len(row.get("labels", [])):
                fail(f"{path}, line {number}: input_ids and labels must have the same length")
            rows.append(row)
    return rows


def read_order(path, examples):
    """Example indices in the order Tunesmith consumed them, one line per optimizer step."""
    order = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            for token in line.split():
                index = int(token)
                if not 0 <= index < examples:
                    fail(f"{path}, line {number}: example {index} is outside data/train.jsonl ({examples} examples)")
                order.append(index)
    return order


def lr_factor(schedule, step, total_steps):
    """Tunesmith's schedule (native/src/train/schedule.cpp): step counts optimizer steps done."""
    warmup = schedule["warmup_steps"]
    if schedule["name"] == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if schedule["name"] == "constant-warmup":
        return 1.0
    progress = (step - warmup) / max(1, total_steps - warmup)
    return max(0.0, 0.5 * (1.0 + torch.cos(torch.tensor(torch.pi * schedule["num_cycles"] * 2.0 * progress)).item()))


def load_model(recipe, model_path, accelerator):
    method = recipe["method"]
    start = recipe.get("start") or {}
    if method in ("full", "lisa") and start.get("model"):
        model_path = str(HERE / start["model"])  # the run's weights at the step it was exported from
    kwargs = {"dtype": torch.float32}
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_quant_storage=torch.bfloat16,  # lets FSDP shard the 4-bit weights
        )
        kwargs["dtype"] = torch.bfloat16
        kwargs["device_map"] = {"": accelerator.local_process_index}
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    if recipe["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method not in ("lora", "qlora"):
        return model

    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe["gradient_checkpointing"])
    if start.get("adapter"):
        return PeftModel.from_pretrained(model, str(HERE / start["adapter"]), is_trainable=True)
    lora = recipe["lora"]
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        use_rslora=lora["rslora"],
        target_modules=lora["target_modules"],
        modules_to_save=lora["modules_to_save"] or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class LisaLayerSampler:
    """LISA (layerwise importance sampling, as LMFlow's callback): every `period` steps, train γ decoder
    layers drawn at random and freeze the others; the embeddings, the final norm and the head are
    always trained. Layers that leave lose their optimizer state, so one that comes back starts
    afresh, as in Tunesmith. The draw uses Python's generator seeded with the run's seed: the same
    γ and period, not the same layers as Tunesmith's engine drew."""

    def __init__(self, model, gamma, period, seed):
        self.layers = list(model.get_decoder().layers)
        if not 1 <= gamma <= len(self.layers):
            fail(f"recipe.json lisa.gamma = {gamma} must be between 1 and the model's {len(self.layers)} layers")
        self.gamma = gamma
        self.period = period
        self.random = random.Random(seed)
        self.active = []
        for layer in self.layers:
            layer.requires_grad_(False)

    def on_step_begin(self, step, optimizer):
        if step % self.period != 0 and self.active:
            return
        chosen = sorted(self.random.sample(range(len(self.layers)), self.gamma))
        for index in self.active:
            if index not in chosen:
                for p in self.layers[index].parameters():
                    p.requires_grad_(False)
                    optimizer.state.pop(p, None)
        for index in chosen:
            self.layers[index].requires_grad_(True)
        self.active = chosen


def make_optimizer(recipe, model):
    o = recipe["optimizer"]
    params = [p for p in model.parameters() if p.requires_grad]
    if o["name"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    return torch.optim.AdamW(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weight_decay"])


def collate(rows, pad_id, device):
    """Rows padded at the end to the longest: labels -100 and attention 0 on the padding."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r["labels"])
        attention[i, :n] = 1
    return ids.to(device), labels.to(device), attention.to(device)


def target_nll(model, rows, pad_id, device):
    """Sum of the negative log-likelihood over the target tokens of `rows`, and how many there are."""
    ids, labels, attention = collate(rows, pad_id, device)
    logits = model(input_ids=ids, attention_mask=attention).logits
    targets = labels[:, 1:]
    nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100, reduction="sum")
    return nll, (targets != -100).sum().to(nll.dtype)


def evaluate(model, examples, per_device, pad_id, accelerator):
    model.eval()
    mine = examples[accelerator.process_index :: accelerator.num_processes]
    total = torch.zeros((), device=accelerator.device)
    count = torch.zeros((), device=accelerator.device)
    with torch.no_grad():
        batches = max(1, -(-len(examples) // (per_device * accelerator.num_processes)))
        for b in range(batches):
            rows = mine[b * per_device : (b + 1) * per_device]
            # Every process runs the same forwards (sharded models gather weights in each), so one
            # whose share has run out scores a stand-in row and does not count it.
            nll, n = target_nll(model, rows or examples[:1], pad_id, accelerator.device)
            if rows:
                total += nll
                count += n
    total = accelerator.reduce(total, "sum")
    count = accelerator.reduce(count, "sum")
    return (total / count).item() if count.item() > 0 else float("nan")


def save_output(recipe, model, model_path, out, accelerator):
    accelerator.wait_for_everyone()
    state = accelerator.get_state_dict(model)
    unwrapped = accelerator.unwrap_model(model)
    if not accelerator.is_main_process:
        return
    out.mkdir(parents=True, exist_ok=True)
    unwrapped.save_pretrained(str(out), state_dict=state, safe_serialization=True)
    if recipe["method"] in ("full", "lisa"):
        source = Path(model_path)
        for name in TOKENIZER_FILES:  # a model folder needs its tokenizer to be opened as a model
            if (source / name).is_file():
                shutil.copyfile(source / name, out / name)


def main():
    args = parse_args()
    recipe_file = Path(args.recipe)
    recipe = json.loads(recipe_file.read_text(encoding="utf-8"))
    if recipe.get("format") != 1:
        fail(f"{recipe_file}: format {recipe.get('format')!r} is not one this script reads (1)")
    method = recipe["method"]
    if method not in ("full", "lora", "qlora", "lisa"):
        fail(f"{recipe_file}: method {method!r} has no distributed trainer to hand over to (full, lora, qlora, lisa)")

    grad_accum = args.grad_accum or recipe["grad_accum"]
    kwargs = [DistributedDataParallelKwargs(find_unused_parameters=True)] if method == "lisa" else []
    # Several processes on a machine without a GPU (a smoke test) train together on the CPU; left to
    # itself, accelerate would start each of them as a separate single-process run.
    cpu_only = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    accelerator = Accelerator(cpu=cpu_only, gradient_accumulation_steps=grad_accum, kwargs_handlers=kwargs)
    world = accelerator.num_processes
    if world != int(os.environ.get("WORLD_SIZE", "1")):
        fail(f"the launcher started {os.environ['WORLD_SIZE']} processes but accelerate sees {world}: check the accelerate config")
    per_device = args.per_device_batch_size
    if per_device is None:
        if recipe["batch_size"] % world != 0:
            fail(
                f"Tunesmith's batch of {recipe['batch_size']} rows does not split over {world} processes: "
                f"pass --per-device-batch-size N (the global batch becomes N x {world} x {grad_accum})"
            )
        per_device = recipe["batch_size"] // world
    if accelerator.state.deepspeed_plugin is not None:
        # DeepSpeed reads the micro-batch from a prepared DataLoader; this script batches itself.
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = per_device
    set_seed(recipe["seed"])

    train = read_jsonl(HERE / recipe["data"]["train"])
    val = [] if args.no_eval else read_jsonl(HERE / recipe["data"]["val"])
    order = read_order(HERE / recipe["data"]["order"], len(train))
    rows_per_micro = per_device * world
    steps = len(order) // (rows_per_micro * grad_accum)
    first = recipe["first_step"]
    total_steps = first + steps  # the schedule's length: the run's, unless the global batch was changed
    if args.max_steps is not None:
        steps = min(steps, args.max_steps)
    if steps < 1:
        fail(f"data/order.txt holds {len(order)} examples, fewer than one optimizer step of {rows_per_micro * grad_accum}")

    model_path = args.model or recipe["model"]
    model = load_model(recipe, model_path, accelerator)
    optimizer = make_optimizer(recipe, model)
    model, optimizer = accelerator.prepare(model, optimizer)
    # LISA freezes layers only once the model is wrapped: data-parallel wrappers register what is
    # trainable when they wrap, and a layer frozen then would never have its gradients averaged.
    lisa = LisaLayerSampler(accelerator.unwrap_model(model), recipe["lisa"]["gamma"], recipe["lisa"]["period"], recipe["seed"]) if method == "lisa" else None
    pad_id = recipe["pad_id"]
    base_lr = recipe["optimizer"]["lr"]
    accelerator.print(
        f"{method} on {world} process(es): {per_device} rows per process x {world} x {grad_accum} micro-batches = "
        f"{rows_per_micro * grad_accum} examples per optimizer step; steps {first + 1} to {first + steps}"
    )

    model.train()
    for step in range(first, first + steps):
        if lisa:
            lisa.on_step_begin(step, optimizer)
        for group in optimizer.param_groups:
            group["lr"] = base_lr * lr_factor(recipe["schedule"], step, total_steps)
        step_loss = 0.0
        for micro in range(grad_accum):
            at = ((step - first) * grad_accum + micro) * rows_per_micro
            rows = [train[i] for i in order[at + accelerator.process_index * per_device : at + (accelerator.process_index + 1) * per_device]]
            with accelerator.accumulate(model):
                nll, count = target_nll(model, rows, pad_id, accelerator.device)
                targets = accelerator.reduce(count.detach(), "sum")
                # Gradients are averaged over processes and micro-batches (accelerate divides by the
                # accumulation): scaling by the process count makes each micro-batch the mean over
                # all of its target tokens, wherever they sit.
                accelerator.backward(nll * world / targets)
                step_loss += (accelerator.reduce(nll.detach(), "sum") / targets).item() / grad_accum
                if accelerator.sync_gradients and recipe["max_grad_norm"] > 0:
                    accelerator.clip_grad_norm_(model.parameters(), recipe["max_grad_norm"])
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        accelerator.print(f"step {step + 1}: loss {step_loss:.6f}", flush=True)

    if val:
        accelerator.print(f"val loss: {evaluate(model, val, per_device, pad_id, accelerator):.6f}")
    out = Path(args.output_dir)
    save_output(recipe, model, model_path, out, accelerator)
    accelerator.print(f"{'adapter' if method in ('lora', 'qlora') else 'model'} written to {out}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
