#include "core/dtype.h"

#include <cmath>
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

uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x0040u);  // quiet NaN, sign kept
  const uint32_t lsb = (bits >> 16) & 1u;
  return uint16_t((bits + 0x7fffu + lsb) >> 16);  // ties to even; overflow carries into inf
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf (65504 is odd)
  if (abs < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal, i.e. an integer multiple of 2^-24.
    // Scaling by 2^24 is exact; nearbyint rounds half to even; 1024 becomes the smallest normal.
    float magnitude;
    std::memcpy(&magnitude, &abs, 4);
    return uint16_t(sign | uint16_t(std::nearbyint(magnitude * 16777216.0f)));
  }
  uint32_t half = ((((abs >> 23) - 127 + 15) << 10) | ((abs >> 13) & 0x3ffu));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // carries into the exponent as it should
  return uint16_t(sign | half);
}

void convert_from_f32(DType dtype, const float* src, void* dst, size_t count) {
  unsigned char* bytes = static_cast<unsigned char*>(dst);
  switch (dtype) {
    case DType::F32:
      std::memcpy(bytes, src, count * 4);
      return;
    case DType::BF16:
    case DType::F16:
      for (size_t i = 0; i < count; ++i) {
        const uint16_t h = dtype == DType::BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
        bytes[2 * i] = uint8_t(h & 0xff);
        bytes[2 * i + 1] = uint8_t(h >> 8);
      }
      return;
    default:
      throw Error(std::string("cannot convert F32 to dtype ") + dtype_name(dtype));
  }
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
