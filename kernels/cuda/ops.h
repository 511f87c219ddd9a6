// CUDA kernels for the layer math, one function per CPU kernel in kernels/cpu/ with
// the same arguments and semantics (see those headers for the formulas); the CPU
// version is the reference and tests/cuda compares the two.
//
// Common contract for every function here:
// - Pointers are device pointers on the current device, dense row-major, and the
//   operands do not overlap unless stated.
// - Work is enqueued on `stream` (nullptr: the legacy default stream) and the
//   function returns without waiting; outputs are ready when the stream reaches them.
// - Shapes are checked on the host and a bad shape throws Error before any launch;
//   a launch failure throws Error (kernels/cuda/device.h).
// - Arithmetic is f32 (the CPU reference accumulates some sums in double; the tests
//   state the resulting tolerances). Results are deterministic: reductions use a
//   fixed order and no atomics, so the same inputs give the same bits run to run.
// - Data-dependent errors the CPU reports by throwing (a token id or target outside
//   the vocabulary) cannot be thrown from a kernel without a synchronisation per
//   call. Instead the kernel never reads out of bounds and poisons its output with
//   NaN, which the trainer's non-finite loss check turns into an Error at its next
//   synchronisation; the host-side data loader validates ids before they get here.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sadari::cuda {

// ---- RMSNorm (kernels/cpu/rmsnorm.h) -------------------------------------------
// y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps); x, y: [rows, dim];
// w: [dim]; rstd: [rows].
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                     int64_t dim, float eps, cudaStream_t stream);
// WRITES dx: [rows, dim]; ACCUMULATES dw: [dim] (+=) unless dw is nullptr.
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd,
                      float* dx, float* dw, int64_t rows, int64_t dim, cudaStream_t stream);

// ---- SwiGLU (kernels/cpu/swiglu.h) ---------------------------------------------
// gate_up: [rows, 2F] (gate in columns [0, F), up in [F, 2F)); h: [rows, F].
void swiglu_forward(const float* gate_up, float* h, int64_t rows, int64_t F,
                    cudaStream_t stream);
// WRITES dgate_up: [rows, 2F].
void swiglu_backward(const float* dh, const float* gate_up, float* dgate_up, int64_t rows,
                     int64_t F, cudaStream_t stream);

// ---- Embedding (kernels/cpu/embedding.h) ---------------------------------------
// out[i, :] = table[ids[i], :]; ids: [n] (device), table: [vocab, dim], out: [n, dim].
// An id outside [0, vocab) yields a row of NaN (see the contract above).
void embedding_forward(const int32_t* ids, const float* table, float* out, int64_t n,
                       int64_t vocab, int64_t dim, cudaStream_t stream);

// ---- Softmax (kernels/cpu/activation.h) ----------------------------------------
// Row softmax, max subtracted; x, y: [rows, cols]. x and y may be the same buffer.
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream);

// ---- Cross-entropy (kernels/cpu/cross_entropy.h) -------------------------------
// logits: [n, vocab]; targets: [n] (kIgnoreTarget = -1 rows are skipped);
// WRITES lse: [n] (per-row log-sum-exp, for backward), and into device scalars
// *loss_sum (the SUM of the counted rows' losses, accumulated in double in a fixed
// order) and *count (the number of counted rows). Both outputs stay on the device so
// a training step need not synchronise; copy them when logging.
// A target outside [0, vocab) that is not -1 makes *loss_sum NaN.
void cross_entropy_forward(const float* logits, const int32_t* targets, float* lse, int64_t n,
                           int64_t vocab, double* loss_sum, int64_t* count,
                           cudaStream_t stream);

// ---- bf16 conversion (core/bf16.h) ---------------------------------------------
// bf16 is stored as its 16-bit pattern (uint16_t), as on the host. f32 -> bf16 rounds
// to nearest even and keeps NaN quiet with its sign, bit for bit as f32_to_bf16();
// bf16 -> f32 is exact. n elements; in and out must not overlap.
void f32_to_bf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream);
void bf16_to_f32(const uint16_t* in, float* out, int64_t n, cudaStream_t stream);

}  // namespace sadari::cuda
