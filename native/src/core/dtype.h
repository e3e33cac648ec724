// Element types the engine knows. The CPU reference backend computes in f32 (f64 in gradient
// tests); bf16/f16 are storage formats upcast on load, nf4 is reserved for QLoRA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tunesmith {

enum class DType { F32, F64, BF16, F16, NF4 };

// Bytes per element; NF4 packs two elements per byte, so it reports 0 here and callers use
// dtype_storage_bytes for sizes.
size_t dtype_size(DType dtype);
size_t dtype_storage_bytes(DType dtype, int64_t numel);
const char* dtype_name(DType dtype);

float bf16_to_f32(uint16_t bits);
float f16_to_f32(uint16_t bits);

// f32 -> bf16 / f16 with round-to-nearest-even (as torch's .to(dtype)): NaN stays a quiet NaN,
// values past the largest finite half round to ±inf, small ones to f16 subnormals or ±0.
uint16_t f32_to_bf16(float value);
uint16_t f32_to_f16(float value);
// Writes `count` f32 values as F32/BF16/F16 little-endian bytes into dst.
void convert_from_f32(DType dtype, const float* src, void* dst, size_t count);

// Upcasts `count` elements of a raw F32/BF16/F16 little-endian buffer (no alignment assumed, as
// safetensors data is only byte-aligned) into f32.
void convert_to_f32(DType dtype, const void* src, float* dst, size_t count);

}  // namespace tunesmith
