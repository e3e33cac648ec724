"""PyTorch side of the CPU benchmark: the same ~20M-parameter random Llama config, fp32, same thread
count, forward and forward+backward tokens/s at batch 1 x seq 256. Prints one JSON line.
Run by scripts/bench-cpu.mjs when python3 has torch and transformers; never needed by the app."""
import json
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    config = LlamaConfig(hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                         num_key_value_heads=4, head_dim=64, vocab_size=8192, rms_norm_eps=1e-5,
                         max_position_embeddings=1024, tie_word_embeddings=False, attn_implementation="eager")
    model = LlamaForCausalLM(config).float()
    tokens = torch.randint(0, config.vocab_size, (1, 256))
    model(tokens, labels=tokens).loss.backward()  # warm-up
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(steps):
            model(tokens, labels=tokens)
        fwd = 256 * steps / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=False)
        model(tokens, labels=tokens).loss.backward()
    fb = 256 * steps / (time.perf_counter() - t0)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "params": sum(p.numel() for p in model.parameters()),
                      "fwd_tok_s": fwd, "fwd_bwd_tok_s": fb}))


if __name__ == "__main__":
    main()
