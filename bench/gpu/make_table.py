"""Markdown report for the GPU benchmark (issue 7): Tunesmith's CUDA engine against PyTorch + PEFT.

Reads two results files with the same row schema (bench/gpu/README.md) — the engine's ("impl":
"tunesmith") and pytorch_baseline.py's ("impl": "pytorch") — and writes bench/results/gpu.md: one table
per method with a row per sequence length, then the issue's targets with PASS/FAIL. Standard library only.

    python bench/gpu/make_table.py --tunesmith T.json --pytorch P.json --commit $(git rev-parse --short HEAD)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

METHOD_ORDER = ("lora", "qlora", "lisa", "zo-sgd")
METHOD_TITLES = {"lora": "LoRA (bf16 base)", "qlora": "QLoRA (NF4 base)", "lisa": "LISA", "zo-sgd": "ZO-SGD (MeZO)"}
# Short names for the targets, as issue 7 states them.
TARGET_NAMES = {"lora": "LoRA bf16", "qlora": "QLoRA", "lisa": "LISA", "zo-sgd": "ZO-SGD"}
DASH = "—"
GB, GIB = 1e9, 2**30
# (method, seq or None for "max over seqs", limit in bytes) — limits in GB = 1e9 bytes, driver view.
MEMORY_TARGETS = (("lisa", 1024, 20 * GB), ("qlora", 2048, 7 * GB), ("lora", 1024, 16 * GB), ("zo-sgd", None, 15 * GB))
LORA_SPEEDUP_TARGET = 1.5
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- input

def load(path: str) -> dict:
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data.get("rows"), list):
        raise SystemExit(f"{path}: no 'rows' list")
    return data


def index_rows(data: dict) -> dict:
    """(method, seq) -> row; batch 1 is the only batch the bench runs."""
    return {(r["method"], int(r["seq"])): r for r in data["rows"]}


# ---------------------------------------------------------------- cell formatting

def ok(row: dict | None) -> bool:
    return row is not None and row.get("status") == "ok"


def status_cell(row: dict | None) -> str | None:
    """What a cell shows instead of a number when the row is missing or did not run."""
    if row is None:
        return DASH
    status = row.get("status")
    return None if status == "ok" else {"oom": "OOM"}.get(status, status or DASH)


def peak_cell(row: dict | None) -> str:
    shown = status_cell(row)
    if shown is not None and row is not None and row.get("status") == "oom" and row.get("peak_driver_bytes"):
        return f"OOM (at {row['peak_driver_bytes'] / GIB:.2f} GiB)"
    if shown is not None:
        return shown
    peak = row.get("peak_driver_bytes")
    return DASH if peak is None else f"{peak / GIB:.2f} GiB / {peak / GB:.2f} GB"


def number_cell(row: dict | None, key: str, spec: str) -> str:
    shown = status_cell(row)
    if shown is not None:
        return shown
    value = row.get(key)
    return DASH if value is None else format(value, spec)


def ratio(ours: dict | None, theirs: dict | None) -> float | None:
    if ok(ours) and ok(theirs) and ours.get("tokens_per_s") and theirs.get("tokens_per_s"):
        return ours["tokens_per_s"] / theirs["tokens_per_s"]
    return None


def ratio_cell(ours: dict | None, theirs: dict | None) -> str:
    r = ratio(ours, theirs)
    return DASH if r is None else f"{r:.2f}×"


def mfu_cell(row: dict | None) -> str:
    shown = status_cell(row)
    if shown is not None:
        return shown
    return DASH if row.get("mfu") is None else f"{100 * row['mfu']:.1f}%"


# ---------------------------------------------------------------- sections

def header(ts: dict, pt: dict, commit: str, date: str) -> list[str]:
    lines = ["# GPU benchmark: Tunesmith CUDA engine vs PyTorch + PEFT", ""]
    if ts.get("synthetic") or pt.get("synthetic"):
        lines += ["**SYNTHETIC TEST INPUT — these numbers are not measurements.**", ""]
    card, driver = ts.get("card") or pt.get("card"), ts.get("driver") or pt.get("driver")
    lines.append(f"Card: {card or DASH}; driver {driver or DASH}; commit {commit}; {date}.")
    if pt.get("card") and ts.get("card") and pt["card"] != ts["card"]:
        lines.append(f"**Warning: the two runs were on different cards** (PyTorch: {pt['card']}).")
    if pt.get("driver") and ts.get("driver") and pt["driver"] != ts["driver"]:
        lines.append(f"Warning: different drivers (PyTorch run: {pt['driver']}).")
    versions = ", ".join(f"{k} {pt[k]}" for k in ("torch", "transformers", "peft", "bitsandbytes") if pt.get(k))
    lines.append(f"PyTorch side: {versions or DASH}; CUDA {pt.get('cuda') or DASH}.")
    models = {d.get("model") for d in (ts, pt) if d.get("model")}
    if models:
        lines.append(f"Model: {'; '.join(sorted(models))}. Batch 1, random token ids.")
    if any("tiny" in m for m in models):
        lines.append("**Warning: not the 7B shape — the targets below do not apply to these numbers.**")
    lines += ["",
              "Peak memory is the driver's view (largest total − free seen by `cudaMemGetInfo` after model "
              "build and after every step): it includes the CUDA context, allocator caches and workspaces. "
              "GiB = 2^30 bytes; **GB = 10^9 bytes, the unit of the targets**. Speed ratio = Tunesmith tok/s "
              "÷ PyTorch tok/s. MFU uses model FLOPs without recompute (formula in bench/gpu/README.md) "
              "against 989 TFLOP/s dense bf16.", ""]
    return lines


def method_table(method: str, ts_rows: dict, pt_rows: dict) -> list[str]:
    seqs = sorted({s for (m, s) in list(ts_rows) + list(pt_rows) if m == method})
    lines = [f"## {METHOD_TITLES.get(method, method)}", ""]
    if not seqs:
        return lines + [f"No rows for {method}.", ""]
    lines += ["| seq | Tunesmith peak | PyTorch peak | Tunesmith tok/s | PyTorch tok/s | speed ratio | "
              "Tunesmith MFU | PyTorch MFU |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for seq in seqs:
        ours, theirs = ts_rows.get((method, seq)), pt_rows.get((method, seq))
        lines.append(f"| {seq} | {peak_cell(ours)} | {peak_cell(theirs)} | {number_cell(ours, 'tokens_per_s', ',.0f')} | "
                     f"{number_cell(theirs, 'tokens_per_s', ',.0f')} | {ratio_cell(ours, theirs)} | "
                     f"{mfu_cell(ours)} | {mfu_cell(theirs)} |")
    return lines + [""] + notes(method, seqs, ts_rows, pt_rows)


def notes(method: str, seqs: list[int], ts_rows: dict, pt_rows: dict) -> list[str]:
    """Each distinct row note once, with the sequence lengths it came from."""
    out = []
    for impl, rows in (("Tunesmith", ts_rows), ("PyTorch", pt_rows)):
        by_note: dict[str, list[str]] = {}
        for seq in seqs:
            row = rows.get((method, seq))
            if row and row.get("note"):
                by_note.setdefault(row["note"], []).append(str(seq))
        out += [f"- {impl} (seq {', '.join(s)}): {note}" for note, s in by_note.items()]
    return out + [""] if out else []


def memory_target(method: str, seq: int | None, limit: float, ts_rows: dict) -> tuple[str, str, str]:
    """(measured, verdict, target text) for one Tunesmith peak-memory target."""
    where = f"seq {seq}" if seq is not None else "max over seqs"
    target = f"{TARGET_NAMES[method]} 7B {where}: peak ≤ {limit / GB:g} GB"
    rows = [r for (m, s), r in ts_rows.items() if m == method and (seq is None or s == seq)]
    if not rows:
        return DASH, "no data", target
    failed = [r for r in rows if r.get("status") != "ok"]
    if any(r.get("status") == "oom" for r in failed):
        return "OOM", "FAIL", target
    if failed:
        return failed[0].get("status") or DASH, "no data", target
    peaks = [r.get("peak_driver_bytes") for r in rows]
    if any(p is None for p in peaks):
        return DASH, "no data", target
    peak = max(peaks)
    return f"{peak / GB:.2f} GB", "PASS" if peak <= limit else "FAIL", target


def speed_target(seq: int, ts_rows: dict, pt_rows: dict) -> tuple[str, str, str]:
    target = f"LoRA seq {seq}: Tunesmith tok/s ≥ {LORA_SPEEDUP_TARGET}× PyTorch + PEFT"
    ours, theirs = ts_rows.get(("lora", seq)), pt_rows.get(("lora", seq))
    r = ratio(ours, theirs)
    if r is not None:
        return f"{r:.2f}×", "PASS" if r >= LORA_SPEEDUP_TARGET else "FAIL", target
    if ours is not None and ours.get("status") == "oom" and ok(theirs):
        return "Tunesmith OOM", "FAIL", target
    return DASH, "no data", target


def targets(ts_rows: dict, pt_rows: dict) -> list[str]:
    rows = [memory_target(m, s, limit, ts_rows) for m, s, limit in MEMORY_TARGETS]
    lora_seqs = sorted({s for (m, s) in list(ts_rows) + list(pt_rows) if m == "lora"})
    rows += [speed_target(s, ts_rows, pt_rows) for s in lora_seqs]
    passed = sum(1 for _, verdict, _ in rows if verdict == "PASS")
    lines = ["## Targets (issue 7)", "", "| target | measured | result |", "|---|---:|:---:|"]
    lines += [f"| {target} | {measured} | {verdict} |" for measured, verdict, target in rows]
    return lines + ["", f"{passed} of {len(rows)} targets pass. Memory targets use the driver-view peak, GB = 10^9 bytes.", ""]


def render(ts: dict, pt: dict, commit: str, date: str) -> str:
    ts_rows, pt_rows = index_rows(ts), index_rows(pt)
    methods = [m for m in METHOD_ORDER] + sorted({m for m, _ in list(ts_rows) + list(pt_rows)} - set(METHOD_ORDER))
    lines = header(ts, pt, commit, date)
    for method in methods:
        lines += method_table(method, ts_rows, pt_rows)
    lines += targets(ts_rows, pt_rows)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- CLI

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tunesmith", required=True, help="the engine's results JSON")
    p.add_argument("--pytorch", required=True, help="pytorch_baseline.py's results JSON")
    p.add_argument("--commit", required=True, help="git commit the engine was built from")
    p.add_argument("--date", default=datetime.date.today().isoformat())
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "results", "gpu.md"))
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    text = render(load(args.tunesmith), load(args.pytorch), args.commit, args.date)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
