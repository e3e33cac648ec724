#include "quant/nf4.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace tunesmith {

const std::array<float, 16>& nf4_codebook() {
  static const std::array<float, 16> codes = {
      -1.0f,                 -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
      -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
      0.07958029955625534f,  0.16093020141124725f,  0.24611230194568634f,  0.33791524171829224f,
      0.44070982933044434f,  0.5626170039176941f,   0.7229568362236023f,   1.0f};
  return codes;
}

const std::array<float, 15>& nf4_thresholds() {
  static const std::array<float, 15> t = {
      -0.8480964004993439f,  -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
      -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
      0.1202552504837513f,   0.2035212516784668f,  0.2920137718319893f,  0.3893125355243683f,
      0.5016634166240692f,   0.6427869200706482f,  0.8614784181118011f};
  return t;
}

// The same tree bitsandbytes walks (four comparisons, strict '>'), so values exactly on a
// threshold and NaN land where they land there.
uint8_t nf4_quantize_value(float x) {
  const std::array<float, 15>& t = nf4_thresholds();
  if (x > t[7]) {
    if (x > t[11]) {
      if (x > t[13]) return x > t[14] ? 0b1111 : 0b1110;
      return x > t[12] ? 0b1101 : 0b1100;
    }
    if (x > t[9]) return x > t[10] ? 0b1011 : 0b1010;
    return x > t[8] ? 0b1001 : 0b1000;
  }
  if (x > t[3]) {
    if (x > t[5]) return x > t[6] ? 0b0111 : 0b0110;
    return x > t[4] ? 0b0101 : 0b0100;
  }
  if (x > t[1]) return x > t[2] ? 0b0011 : 0b0010;
  return x > t[0] ? 0b0001 : 0b0000;
}

namespace {

// torch.linspace(start, end, steps) in float32 as ATen's CPU kernel computes it: the first half
// counts up from start, the second half down from end, with a float step.
std::vector<float> torch_linspace_f32(float start, float end, int64_t steps) {
  const float step = (end - start) / float(steps - 1);
  const int64_t halfway = steps / 2;
  std::vector<float> out(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i)
    out[size_t(i)] = i < halfway ? start + step * float(i) : end - step * float(steps - i - 1);
  return out;
}

std::array<float, 256> make_dynamic_map_signed() {
  // Signed, 7 exponent bits, 8 bits: for exponent i, 2^i fraction values (means of linspace(0.1, 1,
  // 2^i + 1) bins) scaled by 10^(i-6), with both signs; then 0 and 1.0; sorted. The scale is a
  // Python float multiplied into a float32 tensor, i.e. rounded to float first.
  std::vector<double> data;
  for (int i = 0; i < 7; ++i) {
    const int64_t fraction_items = (int64_t(1) << i) + 1;
    const std::vector<float> b = torch_linspace_f32(0.1f, 1.0f, fraction_items);
    const float scale = float(std::pow(10.0, double(i - 6)));
    for (size_t k = 0; k + 1 < b.size(); ++k) {
      const float mean = (b[k] + b[k + 1]) / 2.0f;
      data.push_back(double(scale * mean));
      data.push_back(double(-scale * mean));
    }
  }
  data.push_back(0.0);
  data.push_back(1.0);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  if (data.size() != out.size()) throw Error("dynamic map: expected 256 entries, built " + std::to_string(data.size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(data[i]);
  return out;
}

void check_blocksize(int64_t blocksize, const char* what) {
  const bool power_of_two = blocksize > 0 && (blocksize & (blocksize - 1)) == 0;
  if (!power_of_two || blocksize < 32 || blocksize > 4096)
    throw Error(std::string(what) + ": block size " + std::to_string(blocksize) +
                " is not a power of two in [32, 4096]");
}

// max |x| over a block, as the kernel's fmaxf reduction starting from -FLT_MAX.
float block_absmax(const float* x, int64_t count) {
  float m = -FLT_MAX;
  for (int64_t i = 0; i < count; ++i) m = std::fmax(m, std::fabs(x[i]));
  return m;
}

}  // namespace

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> map = make_dynamic_map_signed();
  return map;
}

uint8_t dynamic_quantize_value(const std::array<float, 256>& code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float val = code[size_t(pivot)];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      pivot += i;
    } else {
      upper_pivot = pivot;
      pivot -= i;
    }
    val = code[size_t(pivot)];
  }
  if (upper_pivot == 255) upper_pivot = 254;
  return uint8_t(std::fabs(x - code[size_t(lower_pivot)]) < std::fabs(x - code[size_t(upper_pivot)]) ? lower_pivot
                                                                                                       : upper_pivot);
}

Blockwise8bit quantize_blockwise_8bit(const float* x, int64_t numel, int64_t blocksize) {
  check_blocksize(blocksize, "8-bit blockwise quantization");
  Blockwise8bit q;
  q.numel = numel;
  q.blocksize = blocksize;
  q.codes.resize(size_t(numel));
  q.absmax.resize(size_t((numel + blocksize - 1) / blocksize));
  const std::array<float, 256>& code = dynamic_map_signed();
  for (int64_t b = 0; b * blocksize < numel; ++b) {
    const int64_t begin = b * blocksize, count = std::min(blocksize, numel - begin);
    const float absmax = block_absmax(x + begin, count);
    q.absmax[size_t(b)] = absmax;
    const float inv = 1.0f / absmax;  // the kernel multiplies by a float reciprocal
    for (int64_t i = 0; i < count; ++i) q.codes[size_t(begin + i)] = dynamic_quantize_value(code, x[begin + i] * inv);
  }
  return q;
}

void dequantize_blockwise_8bit(const Blockwise8bit& q, float* out) {
  const std::array<float, 256>& code = dynamic_map_signed();
  for (int64_t i = 0; i < q.numel; ++i) out[i] = code[q.codes[size_t(i)]] * q.absmax[size_t(i / q.blocksize)];
}

size_t Nf4Tensor::storage_bytes() const {
  size_t bytes = packed.size();
  if (double_quant) bytes += absmax_q.codes.size() + absmax_q.absmax.size() * sizeof(float) + sizeof(float);
  else bytes += absmax.size() * sizeof(float);
  return bytes;
}

Nf4Tensor quantize_nf4(const float* x, const Shape& shape, bool double_quant, int64_t blocksize) {
  check_blocksize(blocksize, "NF4 quantization");
  Nf4Tensor q;
  q.shape = shape;
  q.numel = shape_numel(shape);
  q.blocksize = blocksize;
  q.double_quant = double_quant;
  q.packed.resize(size_t((q.numel + 1) / 2));
  std::vector<float> absmax(size_t(q.num_blocks()));
  for (int64_t b = 0; b < q.num_blocks(); ++b) {
    const int64_t begin = b * blocksize, count = std::min(blocksize, q.numel - begin);
    absmax[size_t(b)] = block_absmax(x + begin, count);
    const float inv = 1.0f / absmax[size_t(b)];
    for (int64_t i = 0; i < count; i += 2) {
      // A block of odd length only happens at the very end; the kernel pads its load with 0.
      const float second = i + 1 < count ? x[begin + i + 1] : 0.0f;
      const uint8_t hi = nf4_quantize_value(x[begin + i] * inv), lo = nf4_quantize_value(second * inv);
      q.packed[size_t((begin + i) / 2)] = uint8_t((hi << 4) | lo);
    }
  }
  if (!double_quant) {
    q.absmax.resize(absmax.size());
    std::copy(absmax.begin(), absmax.end(), q.absmax.data());
    return q;
  }
  // offset = absmax.mean(): summed in double, rounded once (torch's float32 reduction order is
  // unspecified; this is the correctly rounded mean, at most an ulp from torch's).
  double sum = 0.0;
  for (float a : absmax) sum += double(a);
  q.offset = float(sum / double(absmax.size()));
  std::vector<float> centered(absmax.size());
  for (size_t i = 0; i < absmax.size(); ++i) centered[i] = absmax[i] - q.offset;
  q.absmax_q = quantize_blockwise_8bit(centered.data(), int64_t(centered.size()), 256);
  return q;
}

void nf4_block_scales(const Nf4Tensor& q, float* scales) {
  if (!q.double_quant) {
    std::copy(q.absmax.data(), q.absmax.data() + q.absmax.size(), scales);
    return;
  }
  dequantize_blockwise_8bit(q.absmax_q, scales);
  for (int64_t b = 0; b < q.num_blocks(); ++b) scales[b] += q.offset;
}

void dequantize_nf4(const Nf4Tensor& q, float* out) {
  std::vector<float> scales(size_t(q.num_blocks()));
  nf4_block_scales(q, scales.data());
  const std::array<float, 16>& lut = nf4_codebook();
  for (int64_t i = 0; i < q.numel; ++i) {
    const uint8_t byte = q.packed[size_t(i / 2)];
    const uint8_t code = (i % 2 == 0) ? uint8_t(byte >> 4) : uint8_t(byte & 0x0F);
    out[i] = lut[code] * scales[size_t(i / q.blocksize)];
  }
}

}  // namespace tunesmith
