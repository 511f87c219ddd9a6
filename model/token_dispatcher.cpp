#include "model/token_dispatcher.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "core/error.h"
#include "core/grow.h"
#include "kernels/ops.h"

namespace sadari {

namespace {

constexpr std::string_view kRowsName = "MoE dispatch rows";

// out = in as it would arrive in format f (float rows only; others are exact).
template <typename T>
void round_rows(const ExecContext& ctx, WireFormat f, const T* in, int64_t n, int64_t D, T* out) {
  if constexpr (std::is_same_v<T, float>)
    ops::round_trip_rows(ctx, f, in, n, D, out, kRowsName);
  else
    SADARI_ASSERT(f == WireFormat::f32);
}
}  // namespace

template <typename T>
LocalTokenDispatcher<T>::LocalTokenDispatcher(int64_t experts, DispatchWire wire,
                                              const ExecContext& ctx)
    : experts_(experts), wire_(wire), ctx_(ctx) {
  SADARI_CHECK(experts >= 1, "token dispatcher: need at least one expert, got ", experts);
  SADARI_CHECK((std::is_same_v<T, float> || wire.exact()),
               "token dispatcher: reduced-precision rows need a float model");
  local_ids_.resize(static_cast<size_t>(experts));
  for (int64_t e = 0; e < experts; ++e) local_ids_[e] = e;
}

template <typename T>
std::unique_ptr<DispatchState<T>> LocalTokenDispatcher<T>::make_state() const {
  return std::make_unique<LocalDispatchState<T>>();
}

template <typename T>
LocalDispatchState<T>& LocalTokenDispatcher<T>::local(DispatchState<T>& state) const {
  auto* s = dynamic_cast<LocalDispatchState<T>*>(&state);
  if (!s)
    fail("dispatch state was not made by the local token dispatcher", "MoE token dispatcher",
         "create the state with the same dispatcher's make_state()");
  return *s;
}

template <typename T>
void LocalTokenDispatcher<T>::dispatch(const T* x, const int32_t* expert, int64_t n, int64_t k,
                                       int64_t D, DispatchState<T>& state) {
  LocalDispatchState<T>& s = local(state);
  const int64_t E = experts_, P = n * k;
  s.tokens = n;
  s.top_k = k;
  s.hidden = D;
  s.dropped_pairs = 0;

  // a. count pairs per expert.
  s.tokens_per_expert.assign(static_cast<size_t>(E), 0);
  for (int64_t p = 0; p < P; ++p) {
    const int32_t e = expert[p];
    SADARI_CHECK(e >= 0 && e < E, "token dispatcher: token ", p / k, " slot ", p % k,
                 " routed to expert ", e, " outside [0, ", E, ")");
    ++s.tokens_per_expert[e];
  }
  s.local_counts = s.tokens_per_expert;  // all experts are local
  s.local_offsets.assign(static_cast<size_t>(E + 1), 0);
  for (int64_t e = 0; e < E; ++e) s.local_offsets[e + 1] = s.local_offsets[e] + s.local_counts[e];

  // b. stable counting sort of the pairs by expert: O(n k) index work, serial
  // (cheap next to the row copies, and trivially deterministic).
  if (static_cast<int64_t>(s.row_of_pair.size()) < P) {
    s.row_of_pair.resize(static_cast<size_t>(P));
    s.pair_of_row.resize(static_cast<size_t>(P));
  }
  s.cursor.assign(s.local_offsets.begin(), s.local_offsets.end() - 1);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t r = s.cursor[expert[p]]++;
    s.row_of_pair[p] = r;
    s.pair_of_row[r] = p;
  }

  // d. gather the rows: row r is the token of pair pair_of_row[r].
  grow(s.rows, P * D);
  T* rows = s.rows.data();
  ops::gather_rows<T>(ctx_, x, s.pair_of_row.data(), k, rows, P, D);
  if (wire_.dispatch != WireFormat::f32) round_rows(ctx_, wire_.dispatch, rows, P, D, rows);
}

template <typename T>
void LocalTokenDispatcher<T>::combine(const T* expert_out, const T* weight, T* y,
                                      DispatchState<T>& state) {
  LocalDispatchState<T>& s = local(state);
  if (wire_.combine != WireFormat::f32) {
    const int64_t R = s.num_rows();
    if (static_cast<int64_t>(s.wire_out.size()) < R * s.hidden)
      s.wire_out.resize(static_cast<size_t>(R * s.hidden));
    round_rows(ctx_, wire_.combine, expert_out, R, s.hidden, s.wire_out.data());
    expert_out = s.wire_out.data();
  }
  ops::combine_pairs<T>(ctx_, expert_out, s.row_of_pair.data(), weight, y, s.tokens, s.top_k, s.hidden);
}

template <typename T>
void LocalTokenDispatcher<T>::combine_backward(const T* dy, const T* expert_out, const T* weight,
                                               T* d_expert_out, T* d_weight,
                                               DispatchState<T>& state) {
  LocalDispatchState<T>& s = local(state);
  // The outputs combine added, as they arrived.
  if (wire_.combine != WireFormat::f32) expert_out = s.wire_out.data();
  // Every row belongs to exactly one pair, so threads over tokens write disjoint rows.
  ops::combine_pairs_backward<T>(ctx_, dy, expert_out, s.row_of_pair.data(), weight, d_expert_out, d_weight,
                         s.tokens, s.top_k, s.hidden);
  if (wire_.backward != WireFormat::f32)
    round_rows(ctx_, wire_.backward, d_expert_out, s.num_rows(), s.hidden, d_expert_out);
}

template <typename T>
void LocalTokenDispatcher<T>::dispatch_backward(const T* d_rows, T* dx, DispatchState<T>& state) {
  LocalDispatchState<T>& s = local(state);
  if (wire_.backward != WireFormat::f32) {
    const int64_t R = s.num_rows();
    if (static_cast<int64_t>(s.wire_back.size()) < R * s.hidden)
      s.wire_back.resize(static_cast<size_t>(R * s.hidden));
    round_rows(ctx_, wire_.backward, d_rows, R, s.hidden, s.wire_back.data());
    d_rows = s.wire_back.data();
  }
  ops::sum_pair_rows<T>(ctx_, d_rows, s.row_of_pair.data(), dx, s.tokens, s.top_k, s.hidden);
}

template class LocalTokenDispatcher<float>;
template class LocalTokenDispatcher<double>;

}  // namespace sadari
