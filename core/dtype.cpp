#include "core/dtype.h"

#include "core/error.h"

namespace sadari {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::f8_e4m3: return 1;
    case DType::f8_e5m2: return 1;
    case DType::i32: return 4;
    case DType::i64: return 8;
  }
  SADARI_ASSERT(false);
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f8_e4m3: return "f8_e4m3";
    case DType::f8_e5m2: return "f8_e5m2";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
  }
  SADARI_ASSERT(false);
}

std::string_view device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

DType parse_dtype(std::string_view name) {
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::f8_e4m3, DType::f8_e5m2, DType::i32,
                  DType::i64})
    if (dtype_name(t) == name) return t;
  fail(detail::cat("unknown dtype '", name, "'"), {},
       "use one of f32, f64, bf16, f8_e4m3, f8_e5m2, i32, i64");
}

}  // namespace sadari
