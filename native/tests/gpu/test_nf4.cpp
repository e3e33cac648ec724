// NF4 on the card (kernels/nf4.cu) against the host format (quant/nf4.cpp): quantization must give
// the host's bytes, block absmax, double-quant codes, second-level absmax and offset exactly, and
// dequantization the host's fp32 values rounded to bf16, bit for bit.
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/ops.h"
#include "gpu_test.h"
#include "quant/nf4.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;

namespace {

// Random bf16 weights with the features that matter: varied block scales (so double-quant codes
// spread), an all-zero block (absmax 0: codes from 0·inf = NaN, as on the host) and a tail.
std::vector<bf16> weights(Rng& rng, int64_t numel, int64_t blocksize) {
  std::vector<bf16> w(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) {
    const double block_scale = 0.01 * (1.0 + double((i / blocksize) % 7));
    w[size_t(i)] = float_to_bf16(float(block_scale * rng.normal()));
  }
  for (int64_t i = blocksize; i < 2 * blocksize && i < numel; ++i) w[size_t(i)] = bf16{0};
  return w;
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

template <typename T>
size_t count_diff(const std::vector<T>& a, const T* b) {
  size_t d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
  return d;
}

}  // namespace

GPU_TEST(nf4_quantize_matches_host) {
  Rng rng(31);
  for (const int64_t blocksize : {64, 128}) {
    // Neither a multiple of the block size; the second is odd (the last byte's low nibble is padding).
    const int64_t tail = blocksize == 64 ? 10 : 11;
    const int64_t numel = tunesmith_test::gpu_emulated() ? blocksize * 37 + tail : blocksize * 40000 + tail;
    const std::vector<bf16> w = weights(rng, numel, blocksize);
    std::vector<float> wf(w.size());
    for (size_t i = 0; i < w.size(); ++i) wf[i] = bf16_to_float(w[i]);
    const Nf4Tensor host = quantize_nf4(wf.data(), Shape{numel}, false, blocksize);

    DeviceBuffer<bf16> dw(w.size(), "w");
    DeviceBuffer<uint8_t> dpacked(size_t((numel + 1) / 2), "packed");
    DeviceBuffer<float> dabsmax(size_t(host.num_blocks()), "absmax");
    dw.upload(w.data(), w.size());
    nf4_quantize_bf16(dpacked.data(), dabsmax.data(), dw.data(), numel, blocksize);
    const std::vector<uint8_t> packed = dpacked.download();
    const std::vector<float> absmax = dabsmax.download();
    const size_t bad_bytes = count_diff(packed, host.packed.data());
    const bool absmax_ok = same_bits(absmax.data(), host.absmax.data(), absmax.size());
    check(bad_bytes == 0 && absmax_ok,
          "nf4_quantize_bf16 = quantize_nf4 byte for byte (blocksize " + std::to_string(blocksize) + ", numel " +
              std::to_string(numel) + ")",
          std::to_string(bad_bytes) + " bytes differ, absmax " + (absmax_ok ? "identical" : "DIFFERS"));
  }
}

GPU_TEST(nf4_double_quant_and_dequantize_match_host) {
  Rng rng(32);
  const int64_t blocksize = 64, blocksize2 = 256;
  // > 256 blocks, so the second level has a full block and a partial one.
  const int64_t numel = tunesmith_test::gpu_emulated() ? blocksize * 300 + 10 : blocksize * 200000 + 10;
  const std::vector<bf16> w = weights(rng, numel, blocksize);
  std::vector<float> wf(w.size());
  for (size_t i = 0; i < w.size(); ++i) wf[i] = bf16_to_float(w[i]);
  const Nf4Tensor host = quantize_nf4(wf.data(), Shape{numel}, true, blocksize);
  const int64_t nblocks = host.num_blocks(), nblocks2 = (nblocks + blocksize2 - 1) / blocksize2;

  const std::array<float, 256>& code8 = dynamic_map_signed();
  DeviceBuffer<float> dcode8(256, "code8");
  dcode8.upload(code8.data(), code8.size());
  DeviceBuffer<bf16> dw(w.size(), "w");
  DeviceBuffer<uint8_t> dpacked(size_t((numel + 1) / 2), "packed"), dcodes(size_t(nblocks), "absmax codes");
  DeviceBuffer<float> dabsmax(size_t(nblocks), "absmax"), dabsmax2(size_t(nblocks2), "absmax2");
  dw.upload(w.data(), w.size());
  nf4_quantize_bf16(dpacked.data(), dabsmax.data(), dw.data(), numel, blocksize);
  const float offset = nf4_double_quantize(dcodes.data(), dabsmax2.data(), dabsmax.data(), dcode8.data(), nblocks,
                                           blocksize2);
  const size_t bad_bytes = count_diff(dpacked.download(), host.packed.data());
  const size_t bad_codes = count_diff(dcodes.download(), host.absmax_q.codes.data());
  const std::vector<float> absmax2 = dabsmax2.download();
  const bool absmax2_ok = same_bits(absmax2.data(), host.absmax_q.absmax.data(), absmax2.size());
  const bool offset_ok = std::memcmp(&offset, &host.offset, sizeof offset) == 0;
  check(bad_bytes == 0 && bad_codes == 0 && absmax2_ok && offset_ok,
        "nf4 quantize + double quantize = quantize_nf4(double_quant) exactly (" + std::to_string(nblocks) +
            " blocks)",
        std::to_string(bad_bytes) + " bytes, " + std::to_string(bad_codes) + " absmax codes differ; absmax2 " +
            (absmax2_ok ? "identical" : "DIFFERS") + "; offset " + (offset_ok ? "identical" : "DIFFERS"));

  // Dequantize the HOST's tensor on the card: fp32 values of dequantize_nf4, rounded to bf16.
  std::vector<float> want(static_cast<size_t>(numel));
  dequantize_nf4(host, want.data());
  // The vectorised path (aligned output) and the byte-per-thread path (output one element in).
  DeviceBuffer<bf16> dout(size_t(numel) + 1, "out");
  dpacked.upload(host.packed.data(), host.packed.size());
  dcodes.upload(host.absmax_q.codes.data(), host.absmax_q.codes.size());
  dabsmax2.upload(host.absmax_q.absmax.data(), host.absmax_q.absmax.size());
  for (const int shift : {0, 1}) {
    nf4_dequantize_bf16(dout.data() + shift, dpacked.data(), dcodes.data(), dabsmax2.data(), dcode8.data(),
                        host.offset, numel, blocksize, blocksize2);
    const std::vector<bf16> out = dout.download();
    size_t bad_values = 0;
    for (int64_t i = 0; i < numel; ++i)
      bad_values += out[size_t(i + shift)].bits != float_to_bf16(want[size_t(i)]).bits;
    check(bad_values == 0,
          std::string("nf4_dequantize_bf16 = bf16(dequantize_nf4) bit for bit, ") +
              (shift ? "unaligned output" : "aligned (vectorised)") + " (numel " + std::to_string(numel) + ")",
          std::to_string(bad_values) + " values differ");
  }
}
