"""PyTorch + transformers + PEFT side of the GPU benchmark (issue 7).

Trains a randomly initialised Llama-2-7B-shaped model (bf16, built directly on the GPU; nothing is
downloaded) for a few steps with each method and records step time, tokens/s, MFU and peak memory
(allocator view and driver view) per (method, seq) row. Each row runs in a fresh subprocess of this
script (`--one method:seq`) so that an OOM or allocator fragmentation in one row cannot affect the
next. Rows are written to `--out` (atomically) after every row, so a run cut short keeps what it has.

    python bench/gpu/pytorch_baseline.py --out /tmp/pytorch.json              # on the card
    python bench/gpu/pytorch_baseline.py --tiny --steps 2 --warmup 1 --seqs 16,32 --out /tmp/pt.json  # CPU smoke

See bench/gpu/README.md for the row schema and the FLOP formula shared with the C++ bench.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable

METHODS = ("lora", "lisa", "zo-sgd", "qlora")
BATCH = 1
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_LR, LISA_LR = 1e-4, 1e-5
LISA_ACTIVE_LAYERS, LISA_INTERVAL = 2, 20
ZO_EPS, ZO_LR = 1e-3, 1e-6
MODEL_SEED, DATA_SEED, LISA_SEED, ZO_SEED = 0, 1, 0, 0
# H100 SXM dense bf16 tensor-core peak. H200 has the same compute die (1979 TFLOP/s is the sparse figure).
H100_H200_PEAK_FLOPS = 989e12


# ---------------------------------------------------------------- configuration and FLOPs

def llama_config(tiny: bool):
    """Llama-2-7B shape (or a tiny one for CPU smoke tests that exercises the same code)."""
    from transformers import LlamaConfig
    shape = (dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=256) if tiny else
             dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=32, vocab_size=32000))
    return LlamaConfig(**shape, rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=4096,
                       tie_word_embeddings=False, attn_implementation="sdpa", use_cache=False)


def linear_params(config) -> int:
    """N: weights of the decoder Linear layers plus lm_head (embedding excluded). Counted from the config,
    not the module tree, because QLoRA's packed 4-bit weights report half their logical size."""
    d, i, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    q_out, kv_out = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    per_layer = d * q_out + 2 * d * kv_out + q_out * d + 3 * d * i
    return L * per_layer + config.vocab_size * d


def flops_per_token(method: str, n_linear: int, n_layers: int, hidden: int, seq: int) -> float:
    """Model FLOPs per trained token for one optimizer step; activation recompute is NOT counted.

    N = n_linear (decoder Linear weights + lm_head, no embedding), L = n_layers, d = hidden, T = seq.
    attention_fwd = 2*L*T*d per token: QK^T and PV are 2*T*d each per layer for full attention (4*L*T*d),
    halved for the causal mask.
      lora, qlora: forward 2N + attention_fwd, backward to the inputs only (frozen base) 2N + 2*attention_fwd
                   -> 4N + 3*attention_fwd  (the adapters' own FLOPs are ignored)
      lisa:        6N + 3*attention_fwd, reported like full fine-tuning although only two layers, the
                   embedding and lm_head get weight gradients (so LISA MFU is an upper-bound style figure)
      zo-sgd:      two forward passes per step -> 2*(2N + attention_fwd)
    """
    attention_fwd = 2 * n_layers * seq * hidden
    if method in ("lora", "qlora"):
        return 4 * n_linear + 3 * attention_fwd
    if method == "lisa":
        return 6 * n_linear + 3 * attention_fwd
    if method == "zo-sgd":
        return 2 * (2 * n_linear + attention_fwd)
    raise ValueError(f"unknown method {method}")


def peak_flops(card: str) -> float | None:
    """Dense bf16 peak for the cards we report MFU on; None elsewhere (MFU left null)."""
    return H100_H200_PEAK_FLOPS if ("H100" in card or "H200" in card) else None


# ---------------------------------------------------------------- memory probe

class MemoryProbe:
    """Peak memory as the caching allocator sees it and as the driver sees it (total - free, which also
    counts the CUDA context, cuBLAS workspaces, allocator slack and any other process on the card).
    Every field stays None on CPU."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device.type == "cuda"
        self.baseline = self.peak_driver = None

    def driver_used(self) -> int | None:
        if not self.cuda:
            return None
        free, total = self.torch.cuda.mem_get_info()
        return total - free

    def record_baseline(self) -> None:
        """Right after CUDA init, before any model memory: the context's own footprint."""
        if self.cuda:
            self.torch.zeros(1, device="cuda")  # forces context creation
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()
            self.baseline = self.driver_used()

    def start_training_window(self) -> None:
        """Called once the model is built: drop build-time transients (QLoRA holds the bf16 weights
        while quantizing) so the peaks describe training with the model resident."""
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()
        self.sample()

    def sample(self) -> None:
        used = self.driver_used()
        if used is not None:
            self.peak_driver = used if self.peak_driver is None else max(self.peak_driver, used)

    def fields(self) -> dict:
        cuda = self.cuda
        return {
            "peak_allocated_bytes": self.torch.cuda.max_memory_allocated() if cuda else None,
            "peak_reserved_bytes": self.torch.cuda.max_memory_reserved() if cuda else None,
            "peak_driver_bytes": self.peak_driver,
            "driver_baseline_bytes": self.baseline,
        }


# ---------------------------------------------------------------- models

def build_base_model(torch, config, device):
    """Random bf16 weights created in place on the device (seeded): no fp32 copy, no host round trip."""
    from transformers import LlamaForCausalLM
    torch.manual_seed(MODEL_SEED)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.train()  # HF only checkpoints in training mode; a directly constructed model is already in it
    return model


def enable_checkpointing(model) -> None:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    # Needed with a frozen embedding so checkpointed blocks see an input that requires grad
    # (redundant with use_reentrant=False, kept because it is what the PEFT recipes do).
    model.enable_input_require_grads()


def add_lora(model):
    from peft import LoraConfig, get_peft_model
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def quantize_decoder_linears(torch, model, device) -> None:
    """QLoRA base without a checkpoint on disk: swap every decoder nn.Linear for a bnb NF4 Linear4bit
    (double quant, bf16 compute) quantized from the random bf16 weight, one layer at a time so the bf16
    copy of each is freed as soon as it is replaced. lm_head, embedding and norms stay bf16 as with
    BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
    bnb_4bit_compute_dtype=torch.bfloat16)."""
    import bitsandbytes as bnb
    for layer in model.model.layers:
        targets = [(name, mod) for name, mod in layer.named_modules() if isinstance(mod, torch.nn.Linear)]
        for name, linear in targets:
            parent = layer.get_submodule(name.rpartition(".")[0])
            with torch.device("meta"):  # the module's own placeholder weight is never materialised
                q = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                      compute_dtype=torch.bfloat16, compress_statistics=True, quant_type="nf4")
            # Same path as transformers' bnb quantizer: wrap the bf16 data, .to(device) quantizes it.
            weight = bnb.nn.Params4bit(linear.weight.data, requires_grad=False, compress_statistics=True,
                                       quant_type="nf4").to(device)
            q._parameters["weight"] = weight
            q.quant_state = weight.quant_state  # older bnb reads the state from the module
            if linear.bias is not None:
                q.bias = torch.nn.Parameter(linear.bias.data, requires_grad=False)
            setattr(parent, name.rpartition(".")[2], q)
            del linear, weight
    model.is_loaded_in_4bit = True  # what transformers sets; PEFT then dispatches to its bnb LoRA layer


def trainable_note(model) -> str:
    params = [p for p in model.parameters() if p.requires_grad]
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in params})
    return f"trainable {sum(p.numel() for p in params):,} params ({'/'.join(dtypes)})"


# ---------------------------------------------------------------- one training step per method

def first_order_step(model, optimizer) -> Callable:
    def step(ids):
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()
    return step


def mezo_step(torch, model, device) -> Callable:
    """MeZO (Malladi et al. 2023) as its reference code does it: z is never stored, it is regenerated from
    a per-step seed for each perturbation and for the update. In bf16 the +eps/-2eps/+eps round trip does
    not restore the weights bit-exactly; irrelevant for timing."""
    params = [p for p in model.parameters()]
    generator = torch.Generator(device=device)
    seeds = random.Random(ZO_SEED)

    def for_each_z(seed, fn):
        generator.manual_seed(seed)
        for p in params:
            fn(p, torch.normal(0.0, 1.0, size=p.shape, generator=generator, device=p.device, dtype=p.dtype))

    def loss_of(ids):
        return model(input_ids=ids, labels=ids, use_cache=False).loss

    @torch.no_grad()
    def step(ids):
        seed = seeds.randrange(2**31)
        for_each_z(seed, lambda p, z: p.add_(z, alpha=ZO_EPS))
        loss_plus = loss_of(ids)
        for_each_z(seed, lambda p, z: p.add_(z, alpha=-2 * ZO_EPS))
        loss_minus = loss_of(ids)
        for_each_z(seed, lambda p, z: p.add_(z, alpha=ZO_EPS))
        projected_grad = ((loss_plus - loss_minus) / (2 * ZO_EPS)).item()  # MeZO syncs here too
        for_each_z(seed, lambda p, z: p.add_(z, alpha=-ZO_LR * projected_grad))
        return loss_plus  # MeZO logs the loss at +eps
    return step


def setup_lora(torch, config, device, quantized: bool):
    model = build_base_model(torch, config, device)
    if quantized:
        quantize_decoder_linears(torch, model, device)
    enable_checkpointing(model)
    model = add_lora(model)
    params = [p for p in model.parameters() if p.requires_grad]
    note = trainable_note(model)
    if quantized:
        note += "; NF4 double-quant decoder linears, bf16 embed/lm_head/norms (no prepare_model_for_kbit_training upcast)"
    return first_order_step(model, torch.optim.AdamW(params, lr=LORA_LR)), note


def setup_lisa(torch, config, device):
    """LMFlow's LISA: embedding and lm_head always trainable, plus LISA_ACTIVE_LAYERS sampled decoder layers."""
    model = build_base_model(torch, config, device)
    model.requires_grad_(False)
    active = sorted(random.Random(LISA_SEED).sample(range(config.num_hidden_layers), LISA_ACTIVE_LAYERS))
    for module in [model.model.embed_tokens, model.lm_head, *(model.model.layers[i] for i in active)]:
        module.requires_grad_(True)
    enable_checkpointing(model)
    params = [p for p in model.parameters() if p.requires_grad]
    note = (f"{trainable_note(model)}; layers {active}; re-sampling every {LISA_INTERVAL} steps never "
            f"happens in a short timing run")
    return first_order_step(model, torch.optim.AdamW(params, lr=LISA_LR)), note


def setup_zo(torch, config, device):
    model = build_base_model(torch, config, device)
    model.requires_grad_(False)
    model.eval()  # no dropout in Llama anyway; forward-only
    note = f"MeZO over all {sum(p.numel() for p in model.parameters()):,} bf16 params, eps {ZO_EPS}, lr {ZO_LR}"
    return mezo_step(torch, model, device), note


def setup_method(torch, method, config, device):
    """Returns (step function, row note). Raises ImportError for QLoRA without bitsandbytes."""
    if method == "qlora":
        importlib.import_module("bitsandbytes")  # ImportError -> row "skipped"
        return setup_lora(torch, config, device, quantized=True)
    if method == "lora":
        return setup_lora(torch, config, device, quantized=False)
    if method == "lisa":
        return setup_lisa(torch, config, device)
    if method == "zo-sgd":
        return setup_zo(torch, config, device)
    raise ValueError(f"unknown method {method}")


# ---------------------------------------------------------------- measurement (child process)

def random_batches(torch, config, seq, count, device):
    """Seeded random ids, all on the device before timing starts. labels = ids (HF shifts internally)."""
    g = torch.Generator().manual_seed(DATA_SEED)
    ids = torch.randint(0, config.vocab_size, (count, BATCH, seq), generator=g)
    return [b.to(device) for b in ids]


def timed_steps(torch, step, batches, warmup, probe, label) -> tuple[list[float], list[float]]:
    """Runs warmup + timed steps; returns (timed step seconds, loss of every step). Loss read-back and the
    driver memory sample happen outside the timed region."""
    cuda = probe.cuda
    times, losses = [], []
    started = time.perf_counter()
    for i, ids in enumerate(batches):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step(ids)
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        losses.append(float(loss))
        probe.sample()
        if i >= warmup:
            times.append(dt)
        done = i + 1
        eta = (time.perf_counter() - started) / done * (len(batches) - done)
        phase = "warmup" if i < warmup else "timed"
        print(f"  [{label}] step {done}/{len(batches)} ({phase}) {dt * 1e3:.1f} ms  loss {losses[-1]:.4f}  "
              f"ETA {eta:.1f} s", flush=True)
    return times, losses


def speed_fields(method: str, seq: int, config, times: list[float], card: str) -> dict:
    median = statistics.median(times)
    tokens_per_s = BATCH * seq / median
    fpt = flops_per_token(method, linear_params(config), config.num_hidden_layers, config.hidden_size, seq)
    peak = peak_flops(card)
    return {"step_ms_median": median * 1e3, "tokens_per_s": tokens_per_s,
            "mfu": tokens_per_s * fpt / peak if peak else None}


def is_oom(torch, err: BaseException) -> bool:
    if isinstance(err, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):
        return True
    text = str(err)
    return "out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text


def empty_row(method: str, seq: int) -> dict:
    return {"impl": "pytorch", "method": method, "seq": seq, "batch": BATCH, "status": "error", "note": "",
            "step_ms_median": None, "tokens_per_s": None, "mfu": None, "peak_allocated_bytes": None,
            "peak_reserved_bytes": None, "peak_driver_bytes": None, "driver_baseline_bytes": None,
            "loss_first": None, "loss_last": None}


def run_one(method: str, seq: int, steps: int, warmup: int, tiny: bool) -> dict:
    """One (method, seq) row, in this (fresh) process."""
    import torch
    row = empty_row(method, seq)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    probe = MemoryProbe(torch, device)
    probe.record_baseline()
    config = llama_config(tiny)
    label = f"{method} seq {seq}"
    try:
        step, row["note"] = setup_method(torch, method, config, device)
        probe.start_training_window()
        batches = random_batches(torch, config, seq, warmup + steps, device)
        times, losses = timed_steps(torch, step, batches, warmup, probe, label)
        row.update(status="ok", **speed_fields(method, seq, config, times, device_name(torch)),
                   loss_first=losses[0], loss_last=losses[-1])
    except Exception as err:  # noqa: BLE001 — every failure becomes a row, never a missing one
        if method == "qlora" and isinstance(err, ImportError):
            row.update(status="skipped", note=f"bitsandbytes import failed: {err}")
            return row
        oom = is_oom(torch, err)
        row["status"] = "oom" if oom else "error"
        row["note"] = (row["note"] + "; " if row["note"] else "") + f"{type(err).__name__}: {str(err)[:400]}"
        if not oom:
            traceback.print_exc()
    row.update(probe.fields())  # also for OOM rows: the peak reached before failing is informative
    return row


# ---------------------------------------------------------------- environment (child process)

def device_name(torch) -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()})"


def driver_version(torch) -> str | None:
    """NVIDIA driver version: nvidia-smi, else /proc, else the CUDA driver API version torch reports."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/driver/nvidia/version") as f:
            return f.readline().strip()
    except OSError:
        pass
    if torch.cuda.is_available():
        v = torch._C._cuda_getDriverVersion()
        return f"CUDA driver API {v // 1000}.{v % 1000 // 10}"
    return None


def env_info() -> dict:
    """Run in its own subprocess so the parent never creates a CUDA context that the row processes would
    then see in their driver-view numbers."""
    import torch
    import transformers
    info = {"card": device_name(torch), "driver": driver_version(torch), "torch": torch.__version__,
            "transformers": transformers.__version__, "cuda": torch.version.cuda,
            "python": platform.python_version(),
            "card_memory_bytes": torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None,
            "pytorch_cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF")}
    for name in ("peft", "bitsandbytes"):
        try:
            info[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 — absent or broken: recorded as null
            info[name] = None
    return info


# ---------------------------------------------------------------- orchestration (parent process)

def child_command(args, extra: list[str]) -> list[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    return cmd + (["--tiny"] if args.tiny else []) + extra


def child_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def collect_env(args) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as tmp:
        subprocess.run(child_command(args, ["--info", "--row-out", tmp.name]), env=child_env(), check=True,
                       timeout=args.row_timeout)
        return json.load(open(tmp.name))


def run_row(args, method: str, seq: int) -> dict:
    """One row in a fresh subprocess; a crash, kill or timeout still yields a row."""
    if method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        row = empty_row(method, seq)
        row.update(status="skipped", note="bitsandbytes not installed")
        return row
    with tempfile.NamedTemporaryFile("r", suffix=".json") as tmp:
        cmd = child_command(args, ["--one", f"{method}:{seq}", "--row-out", tmp.name])
        try:
            proc = subprocess.run(cmd, env=child_env(), timeout=args.row_timeout)
            text = open(tmp.name).read()
            if text:
                return json.loads(text)
            note = f"row process exited with code {proc.returncode} without a result"
        except subprocess.TimeoutExpired:
            note = f"row process killed after {args.row_timeout} s"
    row = empty_row(method, seq)
    row["note"] = note
    return row


def write_json_atomic(path: str, obj: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def fmt(value, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value / scale, spec)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'method':<8} {'seq':>5} {'status':<8} {'step ms':>9} {'tok/s':>9} {'MFU':>6} "
          f"{'alloc GiB':>9} {'driver GiB':>10} {'loss first/last':>16}")
    for r in rows:
        loss = "-" if r["loss_first"] is None else f"{r['loss_first']:.3f}/{r['loss_last']:.3f}"
        print(f"{r['method']:<8} {r['seq']:>5} {r['status']:<8} {fmt(r['step_ms_median'], '.1f'):>9} "
              f"{fmt(r['tokens_per_s'], '.0f'):>9} {fmt(r['mfu'], '.3f'):>6} "
              f"{fmt(r['peak_allocated_bytes'], '.2f', 2**30):>9} {fmt(r['peak_driver_bytes'], '.2f', 2**30):>10} "
              f"{loss:>16}")


def run_all(args) -> None:
    plan = [(m, s) for m in args.methods for s in args.seqs]
    print(f"pytorch_baseline: {len(plan)} rows, {args.warmup} warmup + {args.steps} timed steps each", flush=True)
    result = {"generator": "pytorch_baseline.py", **collect_env(args),
              "model": "tiny llama (smoke test)" if args.tiny else "llama-2-7b shape, random bf16 weights",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "steps": args.steps, "warmup": args.warmup, "rows": []}
    print(f"card: {result['card']}  driver: {result['driver']}  torch {result['torch']}  "
          f"transformers {result['transformers']}  peft {result['peft']}", flush=True)
    if result["card"].startswith("cpu") and not args.tiny:
        sys.exit("no CUDA device: the 7B configuration is for the GPU; use --tiny for a CPU smoke test")
    started = time.perf_counter()
    for i, (method, seq) in enumerate(plan):
        elapsed = time.perf_counter() - started
        eta = f"ETA {elapsed / i * (len(plan) - i):.0f} s" if i else "ETA ?"
        print(f"row {i + 1}/{len(plan)}: {method} seq {seq}  (elapsed {elapsed:.0f} s, {eta})", flush=True)
        row = run_row(args, method, seq)
        print(f"row {i + 1}/{len(plan)}: {method} seq {seq} -> {row['status']} {row['note']}", flush=True)
        result["rows"].append(row)
        write_json_atomic(args.out, result)
    print_table(result["rows"])
    print(f"\nwrote {args.out} in {time.perf_counter() - started:.0f} s")


# ---------------------------------------------------------------- CLI

def comma_list(cast):
    return lambda text: [cast(x) for x in text.split(",") if x]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seqs", type=comma_list(int), default=[512, 1024, 2048])
    p.add_argument("--methods", type=comma_list(str), default=list(METHODS))
    p.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--out", default="bench/results/pytorch-gpu.json")
    p.add_argument("--tiny", action="store_true", help="tiny Llama for CPU smoke tests")
    p.add_argument("--row-timeout", type=int, default=300, help="seconds before a row process is killed")
    p.add_argument("--one", metavar="METHOD:SEQ", help=argparse.SUPPRESS)  # child: one row
    p.add_argument("--info", action="store_true", help=argparse.SUPPRESS)  # child: environment
    p.add_argument("--row-out", help=argparse.SUPPRESS)  # child: where to write its JSON
    args = p.parse_args(argv)
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {','.join(METHODS)}")
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.info:
        write_json_atomic(args.row_out, env_info())
    elif args.one:
        method, _, seq = args.one.partition(":")
        write_json_atomic(args.row_out, run_one(method, int(seq), args.steps, args.warmup, args.tiny))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
