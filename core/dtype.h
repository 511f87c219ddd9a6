// Element types and devices.
//
// f32 is the reference type on CPU; f64 exists for finite-difference gradient
// checks; bf16 is stored as its 16-bit pattern (emulated on CPU by rounding to
// nearest even); f8_e4m3 / f8_e5m2 are stored as their 8-bit codes (codecs:
// core/fp8.h); i32 / i64 hold token ids and indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sadari {

enum class DType : uint8_t { f32, f64, bf16, f8_e4m3, f8_e5m2, i32, i64 };
enum class Device : uint8_t { cpu, cuda };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
std::string_view device_name(Device d);
// Parses "f32", "bf16", ...; throws Error naming the accepted values otherwise.
DType parse_dtype(std::string_view name);

// Maps a C++ type to its DType (for typed access checks in Tensor::data<T>()).
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };

}  // namespace sadari
