// QLoRA's storage format, bit-compatible with bitsandbytes (quantize_4bit / dequantize_4bit with
// quant_type="nf4", compress_statistics=True, as used by QLoRA and transformers' BitsAndBytesConfig):
//
//  - NF4: the 16-value NormalFloat codebook; each element becomes the index of its nearest code
//    after scaling by 1/absmax of its block (64 elements of the flattened tensor by default).
//    Nearest is decided by bitsandbytes' decision tree over the midpoints (dQuantizeNF4).
//  - Two codes per byte, the FIRST element in the HIGH nibble.
//  - Double quantization of the fp32 block absmax values: subtract their mean (the offset), then
//    8-bit blockwise quantization (blocks of 256, one fp32 absmax each) with the signed dynamic
//    map (create_dynamic_map(signed=True)), nearest code found by bitsandbytes' binary search.
//  - Dequantization: absmax = code8[q8]·absmax2 + offset; value = NF4[q4]·absmax, in fp32.
//
// Host (CPU) code; the CUDA backend will have fused dequantize kernels with the same layout.
#pragma once
#include <array>
#include <cstdint>

#include "core/memory.h"
#include "core/tensor.h"

namespace tunesmith {

// The NF4 codebook, index 0..15 (bitsandbytes nf4_dequantization_lut).
const std::array<float, 16>& nf4_codebook();
// The 15 decision thresholds (midpoints between adjacent codes, as float constants in
// bitsandbytes' dQuantizeNF4), ascending: code i+1 is chosen when x > threshold[i].
const std::array<float, 15>& nf4_thresholds();
// Index of the nearest NF4 code to x (x already scaled into [-1, 1]); NaN maps to 0 as in the tree.
uint8_t nf4_quantize_value(float x);

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 ascending values.
const std::array<float, 256>& dynamic_map_signed();
// bitsandbytes dQuantize<0>: binary search for the nearest entry of a sorted 256-entry map.
uint8_t dynamic_quantize_value(const std::array<float, 256>& code, float x);

// 8-bit blockwise quantization (quantize_blockwise with the dynamic map).
struct Blockwise8bit {
  int64_t numel = 0;
  int64_t blocksize = 256;
  TrackedBuffer<uint8_t> codes;  // numel
  TrackedBuffer<float> absmax;   // ceil(numel / blocksize)
};
Blockwise8bit quantize_blockwise_8bit(const float* x, int64_t numel, int64_t blocksize = 256);
void dequantize_blockwise_8bit(const Blockwise8bit& q, float* out);

// A tensor stored as NF4 with (optionally double-quantized) block scales.
struct Nf4Tensor {
  Shape shape;
  int64_t numel = 0;
  int64_t blocksize = 64;
  TrackedBuffer<uint8_t> packed;  // (numel + 1) / 2 bytes, first element of each pair in the high nibble
  bool double_quant = true;
  TrackedBuffer<float> absmax;    // per 64-block scales, when !double_quant
  Blockwise8bit absmax_q;         // (absmax - offset) quantized, when double_quant
  float offset = 0.0f;            // mean of the absmax values, when double_quant

  int64_t num_blocks() const { return (numel + blocksize - 1) / blocksize; }
  // Bytes this tensor occupies: codes + scales (+ second-level scales and the offset).
  size_t storage_bytes() const;
};

// blocksize must be a power of two in [32, 4096] (bitsandbytes' supported sizes).
Nf4Tensor quantize_nf4(const float* x, const Shape& shape, bool double_quant = true, int64_t blocksize = 64);
// The per-block absmax values the dequantizer uses (after undoing double quantization).
void nf4_block_scales(const Nf4Tensor& q, float* scales);
// out[numel] = NF4[code]·absmax, exactly as bitsandbytes' dequantize_4bit in fp32.
void dequantize_nf4(const Nf4Tensor& q, float* out);

}  // namespace tunesmith
