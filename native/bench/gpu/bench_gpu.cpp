// GPU engine benchmark (issue 7; not a test): trains a random Llama-2-7B-shaped model with each
// method for a few steps per sequence length and writes one JSON file in the schema shared with
// bench/gpu/pytorch_baseline.py (bench/gpu/README.md), which bench/gpu/make_table.py turns into the
// report. Built twice: bench_gpu (nvcc, a card) and bench_gpu_emu (the CPU emulator, --tiny smoke
// runs only).
//
//   bench_gpu [--methods qlora,lora,lisa,zo-sgd] [--seqs 512,1024,2048] [--steps 10] [--warmup 3]
//             [--out FILE.json] [--tiny] [--one METHOD:SEQ] [--no-checkpointing] [--lisa-fp32-states]
//             [--commit SHA] [--row-timeout S] [--budget-s S] [--resume] [--seed N]
//
// Every (method, seq) row runs in a child process (this program again, with --one): an
// out-of-memory error, a crash or a hang then becomes a row with status "oom"/"error" and a note,
// and the next row starts on a clean card. The parent itself never touches CUDA (a context in the
// parent would be counted in every child's driver-view numbers): the device is probed by a child
// too. Exit codes: 0 done (whatever the rows' status), 2 bad arguments, 3 no usable CUDA device.
//
// Memory per row: the engine's own peak (peak_allocated_bytes; the engine uses plain cudaMalloc
// without a caching pool, so peak_reserved_bytes is the same number) and the driver's view
// (peak_driver_bytes: the largest total − free seen by cudaMemGetInfo after every allocation and
// after every step; includes the CUDA context and cuBLAS workspace). The peaks cover the whole row,
// building included: QLoRA's model is made without its bf16 Linear weights, each one produced on
// the card only while it is quantized, so no transient copy of the model needs excusing. The
// build's own peaks are also reported (build_peak_*). driver_baseline_bytes is the driver's used
// memory after the device is opened (context + cuBLAS loaded), before any model memory.
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "gpu/device_check.h"
#include "gpu/device_memory.h"
#include "gpu/gemm.h"
#include "gpu/model/gpu_model.h"
#include "gpu/train/gpu_trainer.h"
#include "model/config.h"
#include "model/json.h"
#include "model/json_writer.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitNoDevice = 3;
// Dense bf16 tensor-core peak of an H100 SXM; the H200 has the same compute (its 1979 TFLOP/s is
// the sparse figure). Same constant as pytorch_baseline.py.
constexpr double kH100H200PeakFlops = 989e12;

// ------------------------------------------------------------------------------------------ options

struct Options {
  std::vector<std::string> methods = {"qlora", "lora", "lisa", "zo-sgd"};
  std::vector<int64_t> seqs;  // default depends on --tiny
  int steps = 10;
  int warmup = 3;
  std::string out = "tunesmith-gpu.json";
  bool tiny = false;
  bool checkpointing = true;
  bool lisa_fp32_states = false;
  std::string commit;
  double row_timeout_s = 300;
  double budget_s = 0;  // 0 = no limit
  bool resume = false;
  uint64_t seed = 0;
  // child modes
  std::string one;        // METHOD:SEQ
  std::string row_out;    // where the child writes its row
  std::string probe_out;  // device probe child
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "bench_gpu: %s\n"
               "usage: bench_gpu [--methods qlora,lora,lisa,zo-sgd] [--seqs 512,1024,2048] [--steps 10]\n"
               "                 [--warmup 3] [--out FILE.json] [--tiny] [--one METHOD:SEQ] [--no-checkpointing]\n"
               "                 [--lisa-fp32-states] [--commit SHA] [--row-timeout S] [--budget-s S] [--resume]\n"
               "                 [--seed N]\n",
               problem.c_str());
  std::exit(kExitUsage);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

int64_t parse_int(const std::string& s, const char* what) {
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') usage(std::string("bad ") + what + ": '" + s + "'");
  return v;
}

double parse_double(const std::string& s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') usage(std::string("bad ") + what + ": '" + s + "'");
  return v;
}

bool known_method(const std::string& m) {
  return m == "qlora" || m == "lora" || m == "lisa" || m == "zo-sgd" || m == "full";
}

Options parse_options(int argc, char** argv) {
  Options o;
  bool seqs_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--methods") {
      o.methods = split(value(), ',');
      for (const std::string& m : o.methods)
        if (!known_method(m)) usage("unknown method '" + m + "' (qlora, lora, lisa, zo-sgd, full)");
    } else if (a == "--seqs") {
      o.seqs.clear();
      for (const std::string& s : split(value(), ',')) o.seqs.push_back(parse_int(s, "sequence length"));
      seqs_given = true;
    } else if (a == "--steps") {
      o.steps = int(parse_int(value(), "--steps"));
    } else if (a == "--warmup") {
      o.warmup = int(parse_int(value(), "--warmup"));
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "--tiny") {
      o.tiny = true;
    } else if (a == "--no-checkpointing") {
      o.checkpointing = false;
    } else if (a == "--lisa-fp32-states") {
      o.lisa_fp32_states = true;
    } else if (a == "--commit") {
      o.commit = value();
    } else if (a == "--row-timeout") {
      o.row_timeout_s = parse_double(value(), "--row-timeout");
    } else if (a == "--budget-s") {
      o.budget_s = parse_double(value(), "--budget-s");
    } else if (a == "--resume") {
      o.resume = true;
    } else if (a == "--seed") {
      o.seed = uint64_t(parse_int(value(), "--seed"));
    } else if (a == "--one") {
      o.one = value();
    } else if (a == "--row-out") {
      o.row_out = value();
    } else if (a == "--probe-out") {
      o.probe_out = value();
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else {
      usage("unknown argument '" + a + "'");
    }
  }
  if (!seqs_given) o.seqs = o.tiny ? std::vector<int64_t>{8, 16} : std::vector<int64_t>{512, 1024, 2048};
  for (int64_t s : o.seqs)
    if (s < 2) usage("sequence lengths must be at least 2");
  if (o.steps < 1) usage("--steps must be at least 1");
  if (o.warmup < 0) usage("--warmup must be at least 0");
  if (o.methods.empty()) usage("no methods");
  if (o.commit.empty()) {
    const char* env = std::getenv("TUNESMITH_COMMIT");
    o.commit = env && *env ? env : "unknown";
  }
  return o;
}

// ------------------------------------------------------------------------------------------ model

LlamaConfig bench_config(bool tiny) {
  LlamaConfig c;
  c.model_type = "llama";
  if (tiny) {
    c.vocab_size = 128;
    c.hidden_size = 64;
    c.intermediate_size = 160;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 4;
    c.head_dim = 16;
  } else {  // Llama-2-7B
    c.vocab_size = 32000;
    c.hidden_size = 4096;
    c.intermediate_size = 11008;
    c.num_layers = 32;
    c.num_heads = 32;
    c.num_kv_heads = 32;
    c.head_dim = 128;
  }
  c.max_position_embeddings = 4096;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = false;
  c.validate(tiny ? "bench_gpu tiny config" : "bench_gpu llama-2-7b config");
  return c;
}

// N of the shared FLOP formula: decoder Linear weights + lm_head, embedding excluded
// (bench/gpu/README.md; linear_params() in pytorch_baseline.py).
double linear_params(const LlamaConfig& c) {
  const double d = double(c.hidden_size), i = double(c.intermediate_size);
  const double q_out = double(c.num_heads * c.head_dim), kv_out = double(c.num_kv_heads * c.head_dim);
  const double per_layer = d * q_out + 2 * d * kv_out + q_out * d + 3 * d * i;
  return double(c.num_layers) * per_layer + double(c.vocab_size) * d;
}

// Model FLOPs per trained token of one optimizer step, activation recompute NOT counted
// (flops_per_token() in pytorch_baseline.py; "full" is counted like lisa).
double flops_per_token(const std::string& method, const LlamaConfig& c, int64_t seq) {
  const double n = linear_params(c);
  const double attention_fwd = 2.0 * double(c.num_layers) * double(seq) * double(c.hidden_size);
  if (method == "lora" || method == "qlora") return 4 * n + 3 * attention_fwd;
  if (method == "lisa" || method == "full") return 6 * n + 3 * attention_fwd;
  if (method == "zo-sgd") return 2 * (2 * n + attention_fwd);
  throw Error("flops_per_token: unknown method " + method);
}

std::string model_description(bool tiny) {
  // The same words as pytorch_baseline.py: make_table.py warns when a "tiny" model is involved.
  return tiny ? "tiny llama (smoke test)" : "llama-2-7b shape, random bf16 weights";
}

GpuTrainConfig train_config(const std::string& method, const Options& o) {
  GpuTrainConfig t;
  t.method = parse_gpu_method(method);
  t.checkpointing = o.checkpointing;
  t.seed = o.seed;
  t.warmup_steps = 0;
  t.total_steps = 0;  // constant learning rate: a timing run
  if (method == "lora" || method == "qlora") {
    t.lr = 1e-4;
    t.lora_rank = 16;
    t.lora_alpha = 32.0;
    t.lora_dropout = 0.0;
    t.lora_targets = {LinearSlot::Q, LinearSlot::K, LinearSlot::V, LinearSlot::O,
                      LinearSlot::Gate, LinearSlot::Up, LinearSlot::Down};
  } else if (method == "lisa") {
    t.lr = 1e-5;
    t.lisa_layers = 2;
    t.lisa_interval = 20;
    t.bf16_optimizer_states = !o.lisa_fp32_states;
  } else if (method == "full") {
    t.lr = 1e-5;
    t.bf16_optimizer_states = true;
  } else if (method == "zo-sgd") {
    t.lr = 1e-6;
    t.zo_eps = 1e-3;
  }
  return t;
}

// ------------------------------------------------------------------------------------------ json helpers

JsonValue jnull() { return JsonValue::make_null(); }
JsonValue jstr(const std::string& s) { return JsonValue::make_string(s); }
JsonValue jbool(bool b) { return JsonValue::make_bool(b); }
JsonValue jint(int64_t v) { return JsonValue::make_number(double(v), true, v); }
JsonValue jnum(double v) {
  if (!std::isfinite(v)) return jnull();
  return JsonValue::make_number(v, false, 0);
}
// Bytes from the engine's stats: -1 means "not known" (the emulator has no driver view).
JsonValue jbytes(int64_t v) { return v < 0 ? jnull() : jint(v); }

using Members = std::vector<std::pair<std::string, JsonValue>>;

const JsonValue* member(const JsonValue& obj, const std::string& key) { return obj.find(key); }

std::string str_member(const JsonValue& obj, const std::string& key, const std::string& fallback = "") {
  const JsonValue* v = member(obj, key);
  return v && v->is_string() && !v->as_string().empty() ? v->as_string() : fallback;
}

double num_member(const JsonValue& obj, const std::string& key, double fallback = NAN) {
  const JsonValue* v = member(obj, key);
  return v && v->is_number() ? v->as_number() : fallback;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `text` to path via a temporary file in the same folder and rename(2): readers never see a
// half-written file, and a run cut short keeps the last complete one.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) throw Error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + why);
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_oom_message(const std::string& message) {
  const std::string m = lower(message);
  return m.find("out of gpu memory") != std::string::npos || m.find("out of memory") != std::string::npos ||
         m.find("alloc_failed") != std::string::npos || m.find("memoryallocation") != std::string::npos;
}

std::string fmt(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

std::string version_text(int v) {  // 13000 -> "13.0"
  if (v <= 0) return "";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// The NVIDIA driver release ("570.133.20") as nvidia-smi reports it, as pytorch_baseline.py does;
// else the kernel module's version line; else the CUDA driver API version.
std::string driver_release(int driver_api_version) {
  if (FILE* p = popen("nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null", "r")) {
    char line[256] = {0};
    const bool got = std::fgets(line, sizeof line, p) != nullptr;
    const int rc = pclose(p);
    std::string s = got ? line : "";
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (rc == 0 && !s.empty()) return s;
  }
  std::ifstream proc("/proc/driver/nvidia/version");
  std::string first;
  if (proc && std::getline(proc, first) && !first.empty()) return first;
  if (driver_api_version > 0) return "CUDA driver API " + version_text(driver_api_version);
  return "";
}

// ------------------------------------------------------------------------------------------ child: one row

struct RowResult {
  std::string status = "error";
  std::string note;
  std::vector<double> step_ms;  // timed steps
  double loss_first = NAN, loss_last = NAN;
  int64_t trainable = -1;
  int64_t peak_engine = -1, peak_driver = -1, driver_baseline = -1, driver_total = -1;
  int64_t build_peak_engine = -1, build_peak_driver = -1, engine_after_build = -1;
  int steps_done = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

JsonValue row_json(const std::string& method, int64_t seq, const RowResult& r, const LlamaConfig& config,
                   const std::string& card, const Options& o) {
  const bool ok = r.status == "ok";
  const double ms = ok ? median(r.step_ms) : NAN;
  const double tokens_per_s = ok && ms > 0 ? double(seq) / (ms / 1000.0) : NAN;
  const bool mfu_card = card.find("H100") != std::string::npos || card.find("H200") != std::string::npos;
  const double mfu = ok && mfu_card ? tokens_per_s * flops_per_token(method, config, seq) / kH100H200PeakFlops : NAN;
  std::vector<JsonValue> steps;
  for (double s : r.step_ms) steps.push_back(jnum(s));
  Members m = {
      {"impl", jstr("tunesmith")},
      {"method", jstr(method)},
      {"seq", jint(seq)},
      {"batch", jint(1)},
      {"status", jstr(r.status)},
      {"note", jstr(r.note)},
      {"step_ms_median", jnum(ms)},
      {"tokens_per_s", jnum(tokens_per_s)},
      {"mfu", jnum(mfu)},
      {"peak_allocated_bytes", jbytes(r.peak_engine)},
      // No caching allocator: what the engine reserves is what it allocates.
      {"peak_reserved_bytes", jbytes(r.peak_engine)},
      {"peak_driver_bytes", jbytes(r.peak_driver)},
      {"driver_baseline_bytes", jbytes(r.driver_baseline)},
      {"loss_first", jnum(r.loss_first)},
      {"loss_last", jnum(r.loss_last)},
      // Extras (not in the shared schema; make_table.py ignores them).
      {"trainable_params", r.trainable < 0 ? jnull() : jint(r.trainable)},
      {"flops_per_token", jnum(flops_per_token(method, config, seq))},
      {"step_ms", JsonValue::make_array(std::move(steps))},
      {"steps_done", jint(r.steps_done)},
      {"checkpointing", jbool(o.checkpointing)},
      {"bf16_optimizer_states", jbool(method == "full" || (method == "lisa" && !o.lisa_fp32_states))},
      {"engine_bytes_after_build", jbytes(r.engine_after_build)},
      {"build_peak_allocated_bytes", jbytes(r.build_peak_engine)},
      {"build_peak_driver_bytes", jbytes(r.build_peak_driver)},
  };
  return JsonValue::make_object(std::move(m));
}

void take_peaks(RowResult& r) {
  const DeviceMemoryStats s = device_memory_stats();
  r.peak_engine = s.peak_bytes;
  r.peak_driver = s.driver_peak_used_bytes;
  r.driver_total = s.driver_total_bytes;
}

std::string method_note(const std::string& method, const Options& o) {
  if (method == "lora") return "r16 alpha 32, 7 targets, fp32 adapters, bf16 base";
  if (method == "qlora") return "r16 alpha 32, 7 targets, fp32 adapters, NF4 + double-quant base";
  if (method == "lisa")
    return std::string("2 layers + embedding + head, interval 20, AdamW states ") +
           (o.lisa_fp32_states ? "fp32" : "bf16");
  if (method == "zo-sgd") return "eps 1e-3, lr 1e-6, out-of-place perturbation";
  if (method == "full") return "AdamW states bf16";
  return "";
}

int run_one(const Options& o) {
  const size_t colon = o.one.rfind(':');
  if (colon == std::string::npos) usage("--one needs METHOD:SEQ");
  const std::string method = o.one.substr(0, colon);
  const int64_t seq = parse_int(o.one.substr(colon + 1), "--one sequence length");
  if (!known_method(method)) usage("unknown method '" + method + "'");
  const LlamaConfig config = bench_config(o.tiny);
  const int total = o.warmup + o.steps;

  RowResult r;
  std::string where = "opening the device";
  std::string card;
  std::string gemm;
  int exit_code = 0;
  try {
    GpuDeviceInfo device;
    try {
      device = open_gpu_device();
    } catch (const std::exception& e) {
      r.note = std::string("no usable CUDA device: ") + e.what();
      exit_code = kExitNoDevice;
      throw;
    }
    card = device.name;
    gemm = device.gemm;
    synchronize();
    r.driver_baseline = device_memory_stats().driver_used_bytes;

    // Build: model (random bf16 weights made on the card) and trainer (adapters, QLoRA's NF4 base,
    // optimizer states).
    where = "building the model";
    reset_device_peaks();
    std::unique_ptr<GpuModel> model = GpuModel::random(config, o.seed, 0.02f, /*linear_weights=*/method != "qlora");
    model->set_checkpointing(o.checkpointing);
    GpuTrainer trainer(*model, train_config(method, o));
    synchronize();
    {
      const DeviceMemoryStats s = device_memory_stats();
      r.build_peak_engine = s.peak_bytes;
      r.build_peak_driver = s.driver_peak_used_bytes;
      r.engine_after_build = s.live_bytes;
    }
    r.trainable = trainer.trainable_parameters();

    // One seeded batch of random token ids; targets are the next token, the last one ignored.
    std::vector<int32_t> tokens(static_cast<size_t>(seq)), targets(static_cast<size_t>(seq));
    Rng rng(o.seed + 1);
    for (int64_t i = 0; i < seq; ++i) tokens[size_t(i)] = int32_t(rng.next_u64() % uint64_t(config.vocab_size));
    for (int64_t i = 0; i + 1 < seq; ++i) targets[size_t(i)] = tokens[size_t(i + 1)];
    targets[size_t(seq - 1)] = -1;

    const Clock::time_point run_start = Clock::now();
    for (int i = 0; i < total; ++i) {
      where = "step " + std::to_string(i + 1) + " of " + std::to_string(total);
      synchronize();
      const Clock::time_point t0 = Clock::now();
      const GpuStepResult step = trainer.step(tokens.data(), targets.data(), 1, seq);
      synchronize();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      sample_driver_memory();
      ++r.steps_done;
      if (i == 0) r.loss_first = step.loss;
      const bool timed = i >= o.warmup;
      if (timed) {
        r.step_ms.push_back(ms);
        r.loss_last = step.loss;
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
      const double eta = elapsed / double(i + 1) * double(total - i - 1);
      std::printf("  %-6s seq %-5lld step %2d/%d%s  %9.1f ms  loss %.4f  ETA %.0fs\n", method.c_str(),
                  (long long)seq, i + 1, total, timed ? "        " : " warmup ", ms, step.loss, eta);
      std::fflush(stdout);
    }
    take_peaks(r);
    r.status = "ok";
    if (!std::isfinite(r.loss_first) || !std::isfinite(r.loss_last)) r.note = "loss not finite; ";
  } catch (const std::exception& e) {
    take_peaks(r);
    const std::string what = e.what();
    if (exit_code != kExitNoDevice) {
      r.status = is_oom_message(what) ? "oom" : "error";
      r.note = where + ": " + what;
    } else {
      r.status = "error";
    }
    std::printf("  %-6s seq %-5lld %s: %s\n", method.c_str(), (long long)seq, r.status.c_str(), what.c_str());
    std::fflush(stdout);
  }
  // The note: what the row measured with, the same text for every seq of a method (make_table.py
  // prints each distinct note once).
  std::string note = method_note(method, o);
  if (!o.checkpointing) note += ", no checkpointing";
  if (r.trainable >= 0) note += "; " + with_commas(r.trainable) + " trainable";
  if (!gemm.empty()) note += "; gemm: " + gemm;
  r.note = r.note.empty() ? note : r.note + (r.status == "ok" ? note : " [" + note + "]");

  if (!o.row_out.empty()) {
    try {
      write_atomically(o.row_out, json_serialize(row_json(method, seq, r, config, card, o), 2) + "\n");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_gpu: %s\n", e.what());
      return 1;
    }
  } else {
    std::printf("%s\n", json_serialize(row_json(method, seq, r, config, card, o), 2).c_str());
  }
  return exit_code;
}

// ------------------------------------------------------------------------------------------ child: probe

int run_probe(const Options& o) {
  Members m;
  int code = 0;
  try {
    const GpuDeviceInfo d = open_gpu_device();
    m = {{"ok", jbool(true)},
         {"card", jstr(d.name)},
         {"index", jint(d.index)},
         {"cc", jstr(std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor))},
         {"multiprocessors", jint(d.multiprocessors)},
         {"card_memory_bytes", d.emulated ? jnull() : jint(d.total_memory)},
         {"driver", jstr(d.emulated ? "" : driver_release(d.driver_version))},
         {"driver_api", jstr(version_text(d.driver_version))},
         {"cuda", jstr(version_text(d.runtime_version))},
         {"gemm", jstr(d.gemm)},
         {"emulated", jbool(d.emulated)}};
  } catch (const std::exception& e) {
    m = {{"ok", jbool(false)}, {"error", jstr(e.what())}};
    code = kExitNoDevice;
  }
  try {
    write_atomically(o.probe_out, json_serialize(JsonValue::make_object(std::move(m)), 2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
  return code;
}

// ------------------------------------------------------------------------------------------ parent

std::string self_exe(const char* argv0) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    return buf;
  }
  return argv0;
}

std::string temp_path(const std::string& tag) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/bench_gpu." + tag + ".XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) throw Error("mkstemp " + path + ": " + std::strerror(errno));
  close(fd);
  return buf.data();
}

struct ChildOutcome {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  double seconds = 0;
};

// Runs this program with `args` and waits at most timeout_s (0 = forever); stdout/stderr are shared.
ChildOutcome run_child(const std::string& exe, const std::vector<std::string>& args, double timeout_s) {
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv_c;
  for (std::string& s : argv_s) argv_c.push_back(s.data());
  argv_c.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const Clock::time_point start = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw Error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
#if defined(__linux__)
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed bench (an outer timeout) takes its row with it
#endif
    execv(exe.c_str(), argv_c.data());
    std::fprintf(stderr, "bench_gpu: exec %s: %s\n", exe.c_str(), std::strerror(errno));
    _exit(127);
  }
  ChildOutcome out;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw Error(std::string("waitpid: ") + std::strerror(errno));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeout_s > 0 && elapsed > timeout_s && !out.timed_out) {
      out.timed_out = true;
      kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (WIFEXITED(status)) {
    out.exited = true;
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

std::vector<std::string> child_common_args(const Options& o) {
  std::vector<std::string> a = {"--steps", std::to_string(o.steps), "--warmup", std::to_string(o.warmup), "--seed",
                                std::to_string(o.seed)};
  if (o.tiny) a.push_back("--tiny");
  if (!o.checkpointing) a.push_back("--no-checkpointing");
  if (o.lisa_fp32_states) a.push_back("--lisa-fp32-states");
  return a;
}

JsonValue failed_row(const std::string& method, int64_t seq, const std::string& status, const std::string& note,
                     const LlamaConfig& config, const Options& o) {
  RowResult r;
  r.status = status;
  r.note = note;
  return row_json(method, seq, r, config, "", o);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::string gib_cell(const JsonValue& row, const char* key) {
  const double v = num_member(row, key);
  if (std::isnan(v)) return "-";
  const double g = v / double(1LL << 30);
  return fmt(g < 0.1 ? "%.4f" : "%.2f", g);  // tiny smoke-test models use a few MiB
}

void print_table(const std::vector<JsonValue>& rows) {
  std::printf("\n| method | seq | status | step ms | tok/s | MFU | engine peak GiB | driver peak GiB | driver peak GB | "
              "loss first -> last |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const JsonValue& r : rows) {
    const double ms = num_member(r, "step_ms_median"), tps = num_member(r, "tokens_per_s"), mfu = num_member(r, "mfu");
    const double drv = num_member(r, "peak_driver_bytes");
    const double l0 = num_member(r, "loss_first"), l1 = num_member(r, "loss_last");
    std::printf("| %s | %lld | %s | %s | %s | %s | %s | %s | %s | %s |\n", str_member(r, "method").c_str(),
                (long long)num_member(r, "seq", 0), str_member(r, "status").c_str(),
                std::isnan(ms) ? "-" : fmt("%.1f", ms).c_str(), std::isnan(tps) ? "-" : fmt("%.0f", tps).c_str(),
                std::isnan(mfu) ? "-" : fmt("%.1f%%", 100 * mfu).c_str(), gib_cell(r, "peak_allocated_bytes").c_str(),
                gib_cell(r, "peak_driver_bytes").c_str(), std::isnan(drv) ? "-" : fmt("%.2f", drv / 1e9).c_str(),
                std::isnan(l0) ? "-" : (fmt("%.4f", l0) + " -> " + (std::isnan(l1) ? "-" : fmt("%.4f", l1))).c_str());
  }
  for (const JsonValue& r : rows) {
    const std::string status = str_member(r, "status");
    if (status != "ok")
      std::printf("  %s seq %lld: %s\n", str_member(r, "method").c_str(), (long long)num_member(r, "seq", 0),
                  str_member(r, "note").c_str());
  }
  std::fflush(stdout);
}

int run_parent(const Options& o, const char* argv0) {
  const std::string exe = self_exe(argv0);
  // Which build of bench_gpu this is (mtime and size of the binary): --resume keeps rows only from the
  // same build, so it is safe even where the commit is unknown (a copy of the tree without .git).
  std::string build_id;
  {
    struct stat st {};
    if (stat(exe.c_str(), &st) == 0) build_id = std::to_string(int64_t(st.st_mtime)) + "-" + std::to_string(int64_t(st.st_size));
  }
  const LlamaConfig config = bench_config(o.tiny);
  const Clock::time_point start = Clock::now();

  // 1. The device, probed in a child so this process never creates a CUDA context.
  JsonValue probe;
  {
    const std::string probe_path = temp_path("probe");
    const ChildOutcome c = run_child(exe, {"--probe-out", probe_path}, 120);
    std::string text;
    try {
      text = read_file(probe_path);
    } catch (const std::exception&) {
    }
    std::remove(probe_path.c_str());
    if (text.empty()) {
      std::fprintf(stderr, "bench_gpu: the device probe %s\n",
                   c.timed_out ? "timed out"
                   : c.signal  ? ("was killed by signal " + std::to_string(c.signal)).c_str()
                               : ("exited with code " + std::to_string(c.exit_code) + " and no report").c_str());
      return kExitNoDevice;
    }
    probe = parse_json(text, "device probe");
    if (!(member(probe, "ok") && member(probe, "ok")->as_bool())) {
      std::fprintf(stderr, "bench_gpu: %s\n", str_member(probe, "error", "no usable CUDA device").c_str());
      return kExitNoDevice;
    }
  }
  const std::string card = str_member(probe, "card");
  std::printf("bench_gpu: %s (cc %s, %lld SMs), driver %s, CUDA runtime %s, gemm: %s\n", card.c_str(),
              str_member(probe, "cc").c_str(), (long long)num_member(probe, "multiprocessors", 0),
              str_member(probe, "driver", "-").c_str(), str_member(probe, "cuda", "-").c_str(),
              str_member(probe, "gemm").c_str());
  std::printf("model: %s; %zu methods x %zu seqs, %d warm-up + %d timed steps, checkpointing %s, commit %s\n",
              model_description(o.tiny).c_str(), o.methods.size(), o.seqs.size(), o.warmup, o.steps,
              o.checkpointing ? "on" : "off", o.commit.c_str());

  // 2. Rows kept from an earlier run (--resume): finished ones are not run again.
  std::map<std::pair<std::string, int64_t>, JsonValue> kept;
  if (o.resume) {
    try {
      const JsonValue old = parse_json(read_file(o.out), o.out);
      // Only rows measured the same way: card, commit, this very binary, model, steps and flags.
      const bool same = str_member(old, "card") == card && str_member(old, "model") == model_description(o.tiny) &&
                        str_member(old, "commit") == o.commit && str_member(old, "build_id") == build_id &&
                        int(num_member(old, "steps", -1)) == o.steps && int(num_member(old, "warmup", -1)) == o.warmup &&
                        member(old, "checkpointing") && member(old, "checkpointing")->is_bool() &&
                        member(old, "checkpointing")->as_bool() == o.checkpointing &&
                        member(old, "lisa_bf16_optimizer_states") &&
                        member(old, "lisa_bf16_optimizer_states")->is_bool() &&
                        member(old, "lisa_bf16_optimizer_states")->as_bool() == !o.lisa_fp32_states;
      if (!same) std::printf("resume: %s was measured differently (card, commit, build, model, steps or flags); rerunning all\n",
                             o.out.c_str());
      if (const JsonValue* rows = member(old, "rows"); rows && same)
        for (const JsonValue& r : rows->as_array("rows"))
          if (str_member(r, "status") == "ok")
            kept[{str_member(r, "method"), int64_t(num_member(r, "seq", 0))}] = r;
      std::printf("resume: %zu finished row(s) kept from %s\n", kept.size(), o.out.c_str());
    } catch (const std::exception& e) {
      std::printf("resume: nothing to keep (%s)\n", e.what());
    }
  }

  std::vector<JsonValue> rows;
  auto document = [&]() {
    std::vector<JsonValue> seqs, methods;
    for (int64_t s : o.seqs) seqs.push_back(jint(s));
    for (const std::string& m : o.methods) methods.push_back(jstr(m));
    Members cfg = {{"vocab_size", jint(config.vocab_size)},
                   {"hidden_size", jint(config.hidden_size)},
                   {"intermediate_size", jint(config.intermediate_size)},
                   {"num_layers", jint(config.num_layers)},
                   {"num_heads", jint(config.num_heads)},
                   {"num_kv_heads", jint(config.num_kv_heads)},
                   {"head_dim", jint(config.head_dim)},
                   {"rope_theta", jnum(config.rope_theta)},
                   {"rms_norm_eps", jnum(config.rms_norm_eps)},
                   {"tie_word_embeddings", jbool(config.tie_word_embeddings)},
                   {"linear_params", jnum(linear_params(config))}};
    Members m = {{"generator", jstr("bench_gpu")},
                 {"card", jstr(card)},
                 {"cc", jstr(str_member(probe, "cc"))},
                 {"multiprocessors", jint(int64_t(num_member(probe, "multiprocessors", 0)))},
                 {"card_memory_bytes", member(probe, "card_memory_bytes") ? *member(probe, "card_memory_bytes") : jnull()},
                 {"driver", jstr(str_member(probe, "driver"))},
                 {"driver_api", jstr(str_member(probe, "driver_api"))},
                 {"cuda", jstr(str_member(probe, "cuda"))},
                 {"gemm", jstr(str_member(probe, "gemm"))},
                 {"emulated", member(probe, "emulated") ? *member(probe, "emulated") : jbool(false)},
                 {"commit", jstr(o.commit)},
                 {"build_id", jstr(build_id)},
                 {"model", jstr(model_description(o.tiny))},
                 {"config", JsonValue::make_object(std::move(cfg))},
                 {"date", jstr(utc_now())},
                 {"steps", jint(o.steps)},
                 {"warmup", jint(o.warmup)},
                 {"batch", jint(1)},
                 {"checkpointing", jbool(o.checkpointing)},
                 {"lisa_bf16_optimizer_states", jbool(!o.lisa_fp32_states)},
                 {"peak_flops", (card.find("H100") != std::string::npos || card.find("H200") != std::string::npos)
                                    ? jnum(kH100H200PeakFlops)
                                    : jnull()},
                 {"methods", JsonValue::make_array(std::move(methods))},
                 {"seqs", JsonValue::make_array(std::move(seqs))},
                 {"rows", JsonValue::make_array(rows)}};
    return JsonValue::make_object(std::move(m));
  };
  auto save = [&]() { write_atomically(o.out, json_serialize(document(), 2) + "\n"); };

  // 3. The rows, each in its own process.
  const size_t total_rows = o.methods.size() * o.seqs.size();
  size_t index = 0;
  double longest_row_s = 0;
  for (const std::string& method : o.methods) {
    for (int64_t seq : o.seqs) {
      ++index;
      const auto key = std::make_pair(method, seq);
      if (kept.count(key)) {
        std::printf("[%zu/%zu] %s seq %lld: kept from the earlier run\n", index, total_rows, method.c_str(),
                    (long long)seq);
        rows.push_back(kept[key]);
        save();
        continue;
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (o.budget_s > 0 && elapsed + longest_row_s > o.budget_s) {
        std::printf("[%zu/%zu] %s seq %lld: skipped (time budget of %.0f s; %.0f s used)\n", index, total_rows,
                    method.c_str(), (long long)seq, o.budget_s, elapsed);
        rows.push_back(failed_row(method, seq, "skipped",
                                  "not run: the --budget-s time budget was spent (rerun with --resume)", config, o));
        save();
        continue;
      }
      std::printf("[%zu/%zu] %s seq %lld (%.0f s elapsed)\n", index, total_rows, method.c_str(), (long long)seq,
                  elapsed);
      std::fflush(stdout);
      const std::string row_path = temp_path("row");
      std::vector<std::string> args = child_common_args(o);
      args.insert(args.end(), {"--one", method + ":" + std::to_string(seq), "--row-out", row_path});
      // A row never runs past the time budget: it is killed there and written as skipped.
      double timeout = o.row_timeout_s;
      bool budget_bound = false;
      if (o.budget_s > 0 && (timeout <= 0 || o.budget_s - elapsed < timeout)) {
        timeout = std::max(1.0, o.budget_s - elapsed);
        budget_bound = true;
      }
      const ChildOutcome c = run_child(exe, args, timeout);
      longest_row_s = std::max(longest_row_s, c.seconds);
      std::string text;
      try {
        text = read_file(row_path);
      } catch (const std::exception&) {
      }
      std::remove(row_path.c_str());
      JsonValue row;
      bool have_row = false;
      if (!text.empty()) {
        try {
          row = parse_json(text, "row of " + method + " seq " + std::to_string(seq));
          have_row = true;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "bench_gpu: %s\n", e.what());
        }
      }
      if (!have_row || c.timed_out) {
        std::string why = c.timed_out   ? "row process killed after the --row-timeout of " + fmt("%.0f", o.row_timeout_s) + " s"
                          : c.signal    ? "row process crashed (signal " + std::to_string(c.signal) + ": " +
                                           strsignal(c.signal) + ")"
                                        : "row process exited with code " + std::to_string(c.exit_code) +
                                           " without a result";
        // A kill by the kernel's OOM killer (host memory) shows up as SIGKILL without a timeout.
        if (!c.timed_out && c.signal == SIGKILL) why += "; possibly the host's out-of-memory killer";
        if (c.timed_out && budget_bound)
          row = failed_row(method, seq, "skipped",
                           "not finished within the --budget-s time budget (rerun with --resume)", config, o);
        else
          row = failed_row(method, seq, "error", why, config, o);
      }
      std::printf("[%zu/%zu] %s seq %lld: %s in %.1f s", index, total_rows, method.c_str(), (long long)seq,
                  str_member(row, "status").c_str(), c.seconds);
      if (str_member(row, "status") == "ok")
        std::printf(", %.1f ms/step, %.0f tok/s, driver peak %s GiB", num_member(row, "step_ms_median"),
                    num_member(row, "tokens_per_s"), gib_cell(row, "peak_driver_bytes").c_str());
      std::printf("\n");
      rows.push_back(std::move(row));
      save();
    }
  }
  print_table(rows);
  std::printf("\nwrote %s (%.0f s)\n", o.out.c_str(), std::chrono::duration<double>(Clock::now() - start).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  try {
    if (!o.probe_out.empty()) return run_probe(o);
    if (!o.one.empty()) return run_one(o);
    return run_parent(o, argv[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
}
