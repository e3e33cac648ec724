#include "core/dtype.h"

#include <cstring>

#include "core/error.h"

namespace tunesmith {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::NF4: return 0;
  }
  return 0;
}

size_t dtype_storage_bytes(DType dtype, int64_t numel) {
  if (dtype == DType::NF4) return static_cast<size_t>((numel + 1) / 2);
  return static_cast<size_t>(numel) * dtype_size(dtype);
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::NF4: return "NF4";
  }
  return "?";
}

float bf16_to_f32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, 4);
  return out;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1u;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t out_bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      out_bits = sign << 31;
    } else {
      // Subnormal half: normalise it into a normal float.
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      out_bits = (sign << 31) | (static_cast<uint32_t>(127 - 15 - shift + 1) << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    out_bits = (sign << 31) | (0xffu << 23) | (mantissa << 13);  // inf / nan
  } else {
    out_bits = (sign << 31) | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &out_bits, 4);
  return out;
}

void convert_to_f32(DType dtype, const void* src, float* dst, size_t count) {
  const unsigned char* bytes = static_cast<const unsigned char*>(src);
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, bytes, count * 4);
      return;
    case DType::BF16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
        dst[i] = bf16_to_f32(bits);
      }
      return;
    case DType::F16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
        dst[i] = f16_to_f32(bits);
      }
      return;
    default:
      throw Error(std::string("cannot convert dtype ") + dtype_name(dtype) + " to F32");
  }
}

}  // namespace tunesmith
