#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace sadari::cpu {

namespace {

// Why gemm tiles C itself instead of letting OpenBLAS thread: a multi-threaded
// OpenBLAS GEMM gives different bits for 1 and 2 threads (measured with 0.3.21),
// which would make every layer's result depend on the thread count. Here C is cut
// into tiles chosen from the shape alone, and each tile is one single-threaded
// OpenBLAS call; which thread runs a tile cannot change its bits.
//
// Products below this many multiply-adds stay one tile (a parallel split would
// cost more than it saves).
constexpr int64_t kSplitWork = int64_t(1) << 21;
// Tiles start at kTileEdge x kTileEdge and are halved (the longer edge first,
// not below kMinTileEdge) until there are at least kMinTiles of them, enough to
// balance a few threads. Packing overhead per tile is ~1/kTileEdge of its work.
constexpr int64_t kTileEdge = 256;
constexpr int64_t kMinTileEdge = 32;
constexpr int64_t kMinTiles = 8;

// cblas takes blasint (32-bit in the Debian builds); a silent wrap-around of a
// large dimension would read the wrong memory, so refuse instead.
void check_blas_range(int64_t v, const char* name) {
  SADARI_CHECK(sizeof(blasint) >= 8 || v <= INT_MAX, "gemm: ", name, " = ", v,
               " is out of range for OpenBLAS (above 2^31-1)");
}

template <typename T>
void blas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda),
                B, blasint(ldb), beta, C, blasint(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, blasint(M), blasint(N), blasint(K), alpha, A, blasint(lda),
                B, blasint(ldb), beta, C, blasint(ldc));
}

// Argument checks shared by gemm() and gemm_grouped(). REQUIRES M, N > 0.
template <typename T>
void check_args(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                int64_t ldb, int64_t ldc) {
  SADARI_CHECK(ldc >= N, "gemm: ldc=", ldc, " < N=", N);
  if (K == 0) return;  // A and B are not read
  // Row-major stored shapes: A is [M,K] or, transposed, [K,M]; B is [K,N] or [N,K].
  const int64_t a_cols = trans_a ? M : K;
  const int64_t b_cols = trans_b ? K : N;
  SADARI_CHECK(lda >= a_cols, "gemm: lda=", lda, " < ", a_cols, " (columns of stored A)");
  SADARI_CHECK(ldb >= b_cols, "gemm: ldb=", ldb, " < ", b_cols, " (columns of stored B)");
  for (auto [v, name] : {std::pair{M, "M"}, {N, "N"}, {K, "K"}, {lda, "lda"}, {ldb, "ldb"},
                         {ldc, "ldc"}})
    check_blas_range(v, name);
}

// K = 0: OpenBLAS rejects lda/ldb < 1 even then; the product is empty, so only the
// beta scaling remains. beta = 0 overwrites (NaNs in C do not survive), as BLAS
// specifies.
template <typename T>
void scale_only(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

// The tiling of C for one product: tiles of mb x nb (the last row/column of tiles
// may be smaller), chosen from the shape alone.
struct Tiling {
  int64_t mb, nb, tiles_m, tiles_n;
  int64_t tiles() const { return tiles_m * tiles_n; }
};

// Called from inside a parallel region (a kernel parallel over heads, say), the
// caller owns the threads: one tile. omp_get_level counts inactive regions too,
// so this does not depend on how many threads the caller's region got.
Tiling plan_tiles(int64_t M, int64_t N, int64_t K) {
  int64_t mb = M, nb = N;
  if (omp_get_level() == 0 && M * N * K >= kSplitWork) {
    mb = std::min(M, kTileEdge);
    nb = std::min(N, kTileEdge);
    auto tiles = [&] { return ((M + mb - 1) / mb) * ((N + nb - 1) / nb); };
    while (tiles() < kMinTiles && std::max(mb, nb) > kMinTileEdge) {
      if (mb >= nb)
        mb = (mb + 1) / 2;
      else
        nb = (nb + 1) / 2;
    }
  }
  return {mb, nb, (M + mb - 1) / mb, (N + nb - 1) / nb};
}

// Tile t of problem p (row-major over the tile grid), as one OpenBLAS call.
template <typename T>
void run_tile(const GemmProblem<T>& p, const Tiling& g, int64_t t) {
  const int64_t i0 = (t / g.tiles_n) * g.mb, j0 = (t % g.tiles_n) * g.nb;
  const int64_t m = std::min(g.mb, p.M - i0), n = std::min(g.nb, p.N - j0);
  // Rows i0.. of op(A): rows of stored A, or its columns when transposed;
  // columns j0.. of op(B) likewise.
  const T* At = p.trans_a ? p.A + i0 : p.A + i0 * p.lda;
  const T* Bt = p.trans_b ? p.B + j0 * p.ldb : p.B + j0;
  blas_gemm<T>(p.trans_a, p.trans_b, m, n, p.K, p.alpha, At, p.lda, Bt, p.ldb, p.beta,
               p.C + i0 * p.ldc + j0, p.ldc);
}

}  // namespace

template <typename T>
void gemm_grouped(const GemmProblem<T>* problems, int64_t count) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  SADARI_CHECK(count >= 0, "gemm_grouped: negative problem count ", count);
  // Validate everything first (an exception must not escape the parallel region),
  // then lay all tiles of all problems out as one list.
  std::vector<Tiling> plans(static_cast<size_t>(count));
  std::vector<int64_t> first_tile(static_cast<size_t>(count) + 1, 0);
  for (int64_t i = 0; i < count; ++i) {
    const GemmProblem<T>& p = problems[i];
    SADARI_CHECK(p.M >= 0 && p.N >= 0 && p.K >= 0, "gemm: negative dimension M=", p.M, " N=", p.N,
                 " K=", p.K);
    int64_t tiles = 0;
    if (p.M > 0 && p.N > 0) {
      check_args<T>(p.trans_a, p.trans_b, p.M, p.N, p.K, p.lda, p.ldb, p.ldc);
      if (p.K > 0) {
        plans[i] = plan_tiles(p.M, p.N, p.K);
        tiles = plans[i].tiles();
      }
    }
    first_tile[i + 1] = first_tile[i] + tiles;
  }
  for (int64_t i = 0; i < count; ++i) {
    const GemmProblem<T>& p = problems[i];
    if (p.M > 0 && p.N > 0 && p.K == 0) scale_only(p.M, p.N, p.beta, p.C, p.ldc);
  }
  const int64_t total = first_tile[count];
  if (total == 0) return;
  const int threads = int(std::min<int64_t>(total, omp_get_max_threads()));
#pragma omp parallel num_threads(threads)
  {
    // Scoped to this region's task: OpenBLAS reads omp_get_max_threads() and so
    // runs each call on the calling thread, also where this region is inactive
    // (one thread) and OpenBLAS would otherwise start its own team.
    omp_set_num_threads(1);
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < total; ++t) {
      // The problem holding tile t: the last with first_tile <= t.
      const int64_t i =
          std::upper_bound(first_tile.begin(), first_tile.end(), t) - first_tile.begin() - 1;
      run_tile<T>(problems[i], plans[i], t - first_tile[i]);
    }
  }
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  SADARI_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative dimension M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  check_args<T>(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (K == 0) {
    scale_only(M, N, beta, C, ldc);
    return;
  }
  const GemmProblem<T> p{trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  const Tiling g = plan_tiles(M, N, K);
  if (g.tiles() == 1) {
    // One tile: the call runs on this thread without opening a parallel region (a
    // small product, or any product inside another kernel's region). OpenBLAS
    // reads omp_get_max_threads(), so 1 keeps it on this thread as in the region.
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run_tile<T>(p, g, 0);
    omp_set_num_threads(saved);
    return;
  }
  gemm_grouped<T>(&p, 1);
}

template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, const T* B,
            T* C, T beta) {
  gemm<T>(trans_a, trans_b, M, N, K, T(1), A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

#define SADARI_INSTANTIATE(T)                                                              \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,       \
                        const T*, int64_t, T, T*, int64_t);                                \
  template void matmul<T>(bool, bool, int64_t, int64_t, int64_t, const T*, const T*, T*, T); \
  template void gemm_grouped<T>(const GemmProblem<T>*, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
