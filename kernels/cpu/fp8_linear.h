// The three GEMMs of a bias-free linear layer in FP8, DeepSeek-V3's recipe, on the
// host: y = x W^T with W: [out, in] (model/linear.h's convention), x: [n, in].
//   Fprop  y  = x W^T      x quantised 1x128 along `in`, W in 128x128 blocks.
//   Dgrad  dx = dy W       dy quantised 1x128 along `out`; W^T is the exact block
//                          transpose of the forward's quantised W (no requantising).
//   Wgrad  dW += dy^T x    dy^T and x^T quantised 1x128 along the n tokens.
// Every product is kernels/cpu/fp8_gemm.h's fp8_gemm_nt (fp32 accumulation per the
// definition there); inputs and outputs are fp32, as are master weights.
//
// Accuracy against the fp32 layer: each operand element carries its quantisation
// error (relative <= 2^-4 for E4M3, see kernels/cpu/fp8_quantize.h), so a product
// is off by about 2^-4 * sqrt(2/3) relative in the Frobenius norm for Gaussian
// data; tests/kernels/fp8_linear_test.cpp measures ~0.03 and bounds it at 0.05.
//
// Names: `name` is the weight's name ("blocks.3.ffn.w_down"); the quantised
// activations and gradients are named after it (name + ".x", ".dy", ".dy^T", ".x^T")
// in error messages (non-finite values, see fp8_quantize.h). Threads and
// reentrancy as in fp8_gemm.h.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/cpu/fp8_gemm.h"

namespace sadari::cpu {

// W [out, in] quantised once per step (or per forward) for Fprop and Dgrad.
Fp8Matrix fp8_quantize_weight(const float* W, int64_t out, int64_t in,
                              const Fp8QuantizeOptions& opt, std::string name);

// y[n, out] = x[n, in] . Wq^T.
void fp8_linear_forward(const float* x, const Fp8Matrix& Wq, float* y, int64_t n,
                        const Fp8QuantizeOptions& opt);

// dx[n, in] = dy Wq (written, or added when accumulate_dx); dW[out, in] += dy^T x.
// dx or dW may be null to skip that product.
void fp8_linear_backward(const float* dy, const float* x, const Fp8Matrix& Wq, float* dx,
                         float* dW, int64_t n, const Fp8QuantizeOptions& opt,
                         bool accumulate_dx = false);

// Wgrad alone: dW[out, in] += dy[n, out]^T x[n, in] (what fp8_linear_backward does
// for dW), for a weight-gradient pass split from the input-gradient pass
// (model/weight_grad_tape.h). `name` is the weight's name.
void fp8_linear_wgrad(const float* dy, const float* x, float* dW, int64_t n, int64_t out,
                      int64_t in, const Fp8QuantizeOptions& opt, const std::string& name);

}  // namespace sadari::cpu
