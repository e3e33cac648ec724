// CPU backend benchmark (not a test): forward+backward tokens/s on a ~20M-parameter random Llama
// config at seq 256, with and without activation checkpointing, plus raw matmul GFLOP/s.
// Usage: bench_cpu [threads] [steps]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/memory.h"
#include "core/rng.h"
#include "cpu/ops.h"
#include "model/model.h"

using namespace tunesmith;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 3;

  LlamaConfig c;
  c.hidden_size = 512;
  c.intermediate_size = 1408;
  c.num_layers = 4;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 64;
  c.vocab_size = 8192;
  c.rms_norm_eps = 1e-5;
  auto model = Model::from_config(c, 1, 0.02, threads);
  const int64_t batch = 1, seq = 256;
  TrainBatch b;
  b.batch = batch;
  b.seq = seq;
  Rng rng(5);
  for (int64_t i = 0; i < batch * seq; ++i) b.tokens.push_back(int32_t(rng.next_u64() % c.vocab_size));

  std::printf("config: hidden %lld, layers %lld, heads %lld/%lld kv, intermediate %lld, vocab %lld -> %.1fM params\n",
              (long long)c.hidden_size, (long long)c.num_layers, (long long)c.num_heads, (long long)c.num_kv_heads,
              (long long)c.intermediate_size, (long long)c.vocab_size, model->num_parameters() / 1e6);
  std::printf("threads: %d, batch %lld x seq %lld, %d timed steps each\n\n", model->backend().threads(),
              (long long)batch, (long long)seq, steps);

  // Raw matmul throughput at the MLP shape.
  {
    const int64_t m = 256, k = 512, n = 1408;
    std::vector<float> x(m * k, 0.5f), w(n * k, 0.25f), y(m * n);
    model->backend().matmul_forward(y.data(), x.data(), w.data(), nullptr, m, k, n);
    const auto t0 = Clock::now();
    const int reps = 20;
    for (int r = 0; r < reps; ++r) model->backend().matmul_forward(y.data(), x.data(), w.data(), nullptr, m, k, n);
    const double s = seconds_since(t0);
    std::printf("matmul %lldx%lld . (%lldx%lld)^T: %.1f GFLOP/s\n\n", (long long)m, (long long)k, (long long)n,
                (long long)k, 2.0 * m * k * n * reps / s / 1e9);
  }

  std::printf("| mode                 | fwd tok/s | fwd+bwd tok/s | fwd+bwd extra peak MB |\n");
  std::printf("|----------------------|-----------|---------------|-----------------------|\n");
  for (bool checkpointing : {false, true}) {
    model = Model::from_config(c, 1, 0.02, threads);  // fresh, so its activation buffers are counted
    model->set_checkpointing(checkpointing);
    model->zero_gradients();
    const int64_t base = memory_stats().live_bytes;
    reset_peak_memory();
    model->forward_backward(b);  // warm-up; allocates activations and scratch
    const double peak_mb = double(memory_stats().peak_bytes - base) / 1e6;
    auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) model->loss(b);
    const double fwd = double(batch * seq * steps) / seconds_since(t0);
    t0 = Clock::now();
    for (int s = 0; s < steps; ++s) model->forward_backward(b);
    const double fb = double(batch * seq * steps) / seconds_since(t0);
    std::printf("| %-20s | %9.0f | %13.0f | %21.1f |\n", checkpointing ? "checkpointing" : "stored activations", fwd,
                fb, peak_mb);
  }
  return 0;
}
