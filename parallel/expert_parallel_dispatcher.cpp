#include "parallel/expert_parallel_dispatcher.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/error.h"
#include "core/grow.h"
#include "kernels/ops.h"

namespace sadari {

namespace {

void exclusive_prefix(const std::vector<int64_t>& counts, std::vector<int64_t>& displs) {
  displs.resize(counts.size());
  int64_t sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    displs[i] = sum;
    sum += counts[i];
  }
}

}  // namespace

template <typename T>
ExpertParallelDispatcher<T>::ExpertParallelDispatcher(Communicator& ep_group,
                                                      ExpertPlacement placement,
                                                      const ParallelConfig& options,
                                                      DispatchWire wire,
                                                      const ExecContext& ctx)
    : comm_(&ep_group),
      placement_(std::move(placement)),
      capacity_factor_(options.capacity_factor),
      wire_(wire),
      ctx_(ctx) {
  const std::string where =
      detail::cat("expert-parallel dispatcher, ", ep_group.name(), " group rank ", ep_group.rank(),
                  " (world rank ", ep_group.world_rank(), ")");
  if (!std::is_same_v<T, float> && !wire.exact())
    fail("reduced-precision dispatch rows need a float model", where);
  if (placement_.ranks() != ep_group.size())
    fail(detail::cat("the expert placement has ", placement_.ranks(), " ranks, the ",
                     ep_group.name(), " group has ", ep_group.size()),
         where, "build the placement for the ep group's size (parallel.ep)");
  if (ep_group.device() != Device::cpu)
    fail(detail::cat("the ", ep_group.name(), " communicator works on ",
                     device_name(ep_group.device()), " buffers; this dispatcher uses host memory"),
         where, "use a host (MPI) communicator for the CPU dispatcher");
  if (!(capacity_factor_ >= 0.0))
    fail(detail::cat("capacity_factor = ", capacity_factor_, " must be >= 0 (0 = dropless)"),
         "parallel.capacity_factor");
  local_ids_ = placement_.rank_slots(ep_group.rank());

  if (options.max_nodes_per_token < 0)
    fail(detail::cat("max_nodes_per_token = ", options.max_nodes_per_token,
                     " must be >= 0 (0 = off)"),
         "parallel.max_nodes_per_token");
  if (options.max_nodes_per_token > 0) {
    if (options.ranks_per_node < 1)
      fail(detail::cat("node-limited routing needs the ranks per node, got ranks_per_node = ",
                       options.ranks_per_node),
           "parallel.ranks_per_node",
           "set it, or resolve 0 to the launcher's local size before building the dispatcher");
    max_nodes_ = options.max_nodes_per_token;
    const int64_t first_world = ep_group.world_rank() - ep_group.rank();
    const auto node_of_rank = [&](int r) {
      return static_cast<int32_t>((first_world + r) / options.ranks_per_node -
                                  first_world / options.ranks_per_node);
    };
    expert_node_.assign(static_cast<size_t>(placement_.experts()), -1);
    for (int64_t e = 0; e < placement_.experts(); ++e)
      for (const ExpertPlacement::Replica& rep : placement_.replicas(e)) {
        const int32_t node = node_of_rank(rep.rank);
        if (expert_node_[e] >= 0 && expert_node_[e] != node)
          fail(detail::cat("expert ", e, " has replicas on nodes ", expert_node_[e], " and ", node,
                           " (ep rank ", rep.rank, ")"),
               "parallel.max_nodes_per_token",
               "node-limited routing needs all replicas of an expert on one node");
        expert_node_[e] = node;
      }
  }
}

template <typename T>
std::unique_ptr<DispatchState<T>> ExpertParallelDispatcher<T>::make_state() const {
  return std::make_unique<ExpertParallelDispatchState<T>>();
}

template <typename T>
ExpertParallelDispatchState<T>& ExpertParallelDispatcher<T>::own(DispatchState<T>& state) const {
  auto* s = dynamic_cast<ExpertParallelDispatchState<T>*>(&state);
  if (!s)
    fail("dispatch state was not made by the expert-parallel token dispatcher",
         "MoE token dispatcher", "create the state with the same dispatcher's make_state()");
  return *s;
}

template <typename T>
ExpertParallelDispatchState<T>& ExpertParallelDispatcher<T>::dispatched(DispatchState<T>& state,
                                                                        const char* step) const {
  ExpertParallelDispatchState<T>& s = own(state);
  if (s.send_rows.size() != static_cast<size_t>(comm_->size()))
    fail(detail::cat(step, " on a state without a dispatch"),
         detail::cat("expert-parallel dispatcher, ", comm_->name(), " rank ", comm_->rank()),
         "call dispatch() on this state first");
  return s;
}

template <typename T>
void ExpertParallelDispatcher<T>::exchange(const T* send, T* recv, bool to_experts,
                                           WireFormat format,
                                           ExpertParallelDispatchState<T>& s) const {
  // D values per row, or for a reduced format the row's record in 32-bit words.
  const int64_t D = s.hidden;
  const int64_t unit = format == WireFormat::f32 ? D : wire_row_bytes(format, D) / 4;
  const std::vector<int64_t>& out_rows = to_experts ? s.send_rows : s.recv_rows;
  const std::vector<int64_t>& out_displs = to_experts ? s.send_row_displs : s.recv_row_displs;
  const std::vector<int64_t>& in_rows = to_experts ? s.recv_rows : s.send_rows;
  const std::vector<int64_t>& in_displs = to_experts ? s.recv_row_displs : s.send_row_displs;
  const size_t ep = out_rows.size();
  s.send_elems.resize(ep);
  s.send_elem_displs.resize(ep);
  s.recv_elems.resize(ep);
  s.recv_elem_displs.resize(ep);
  for (size_t r = 0; r < ep; ++r) {
    s.send_elems[r] = out_rows[r] * unit;
    s.send_elem_displs[r] = out_displs[r] * unit;
    s.recv_elems[r] = in_rows[r] * unit;
    s.recv_elem_displs[r] = in_displs[r] * unit;
  }
  if (format == WireFormat::f32) {
    comm_->all_to_all_v(send, s.send_elems.data(), s.send_elem_displs.data(), recv,
                        s.recv_elems.data(), s.recv_elem_displs.data(), dtype_of<T>::value);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    const int64_t out_total = ep ? out_displs[ep - 1] + out_rows[ep - 1] : 0;
    const int64_t in_total = ep ? in_displs[ep - 1] + in_rows[ep - 1] : 0;
    grow(s.wire_send, out_total * unit);
    grow(s.wire_recv, in_total * unit);
    ops::encode_rows(ctx_, format, send, out_total, D, reinterpret_cast<uint8_t*>(s.wire_send.data()),
                "MoE dispatch rows");
    comm_->all_to_all_v(s.wire_send.data(), s.send_elems.data(), s.send_elem_displs.data(),
                        s.wire_recv.data(), s.recv_elems.data(), s.recv_elem_displs.data(),
                        DType::i32);
    ops::decode_rows(ctx_, format, reinterpret_cast<const uint8_t*>(s.wire_recv.data()), in_total, D, recv);
  } else {
    SADARI_ASSERT(false);  // the constructor refuses reduced formats for double
  }
}

template <typename T>
void ExpertParallelDispatcher<T>::apply_capacity(int64_t n, int64_t k,
                                                 ExpertParallelDispatchState<T>& s) const {
  const int64_t E = placement_.experts(), ep = comm_->size(), me = comm_->rank();
  // Every rank's per-expert counts and token count, so every rank can apply the
  // same (source rank, token) priority without a second round trip.
  s.cursor.assign(s.tokens_per_expert.begin(), s.tokens_per_expert.end());
  s.cursor.push_back(n);
  s.all_counts.resize(static_cast<size_t>(ep * (E + 1)));
  comm_->all_gather(s.cursor.data(), s.all_counts.data(), E + 1, DType::i64);
  int64_t group_tokens = 0;
  for (int64_t r = 0; r < ep; ++r) group_tokens += s.all_counts[r * (E + 1) + E];
  const double exact =
      capacity_factor_ * static_cast<double>(group_tokens * k) / static_cast<double>(E);
  const int64_t capacity = static_cast<int64_t>(std::ceil(exact));
  s.keep_left.assign(static_cast<size_t>(E), 0);
  for (int64_t e = 0; e < E; ++e) {
    int64_t before = 0;  // pairs of e on lower ranks: they come first
    for (int64_t r = 0; r < me; ++r) before += s.all_counts[r * (E + 1) + e];
    s.keep_left[e] = std::clamp<int64_t>(capacity - before, 0, s.tokens_per_expert[e]);
  }
}

template <typename T>
void ExpertParallelDispatcher<T>::dispatch(const T* x, const int32_t* expert, int64_t n, int64_t k,
                                           int64_t D, DispatchState<T>& state) {
  ExpertParallelDispatchState<T>& s = own(state);
  const int64_t E = placement_.experts(), ep = comm_->size(), me = comm_->rank();
  const int64_t spr = placement_.slots_per_rank(), P = n * k;
  SADARI_CHECK(n >= 0 && k >= 1 && D >= 1, "expert-parallel dispatch on ", comm_->name(), " rank ",
               me, ": bad shape n = ", n, ", k = ", k, ", D = ", D);
  s.tokens = n;
  s.top_k = k;
  s.hidden = D;
  s.dropped_pairs = 0;

  // a. count pairs per global expert (the router's load, before any dropping).
  s.tokens_per_expert.assign(static_cast<size_t>(E), 0);
  for (int64_t p = 0; p < P; ++p) {
    const int32_t e = expert[p];
    SADARI_CHECK(e >= 0 && e < E, "expert-parallel dispatch on ", comm_->name(), " rank ", me,
                 ": token ", p / k, " slot ", p % k, " routed to expert ", e, " outside [0, ", E,
                 ")");
    ++s.tokens_per_expert[e];
  }

  // b. capacity: how many of this rank's pairs of each expert may go.
  const bool capped = capacity_factor_ > 0.0;
  if (capped) apply_capacity(n, k, s);

  // c. destination physical slot (rank * spr + slot) of every kept pair, then a
  // stable counting sort by it: send order = (rank, slot, token order).
  grow(s.send_pos_of_pair, P);
  s.slot_counts_out.assign(static_cast<size_t>(ep * spr), 0);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t e = expert[p];
    if (capped) {
      if (s.keep_left[e] == 0) {
        s.send_pos_of_pair[p] = -1;
        ++s.dropped_pairs;
        continue;
      }
      --s.keep_left[e];
    }
    const ExpertPlacement::Replica& rep = placement_.replica_for(e, static_cast<int>(me), p / k);
    const int64_t g = rep.rank * spr + rep.slot;
    s.send_pos_of_pair[p] = g;
    ++s.slot_counts_out[g];
  }
  exclusive_prefix(s.slot_counts_out, s.cursor);
  for (int64_t p = 0; p < P; ++p)
    if (s.send_pos_of_pair[p] >= 0) s.send_pos_of_pair[p] = s.cursor[s.send_pos_of_pair[p]]++;
  s.send_rows.assign(static_cast<size_t>(ep), 0);
  for (int64_t r = 0; r < ep; ++r)
    for (int64_t j = 0; j < spr; ++j) s.send_rows[r] += s.slot_counts_out[r * spr + j];
  exclusive_prefix(s.send_rows, s.send_row_displs);
  const int64_t S = s.send_row_displs.back() + s.send_rows.back();

  grow(s.send_buf, S * D);
  // Each kept pair's token row to its send position (dropped pairs: -1, skipped).
  ops::scatter_rows<T>(ctx_, x, s.send_pos_of_pair.data(), k, s.send_buf.data(), P, D);

  // d. counts per (source, my slot), then the rows themselves.
  s.slot_counts_in.resize(static_cast<size_t>(ep * spr));
  comm_->all_to_all(s.slot_counts_out.data(), s.slot_counts_in.data(), spr, DType::i64);
  s.recv_rows.assign(static_cast<size_t>(ep), 0);
  s.local_counts.assign(static_cast<size_t>(spr), 0);
  for (int64_t r = 0; r < ep; ++r)
    for (int64_t j = 0; j < spr; ++j) {
      s.recv_rows[r] += s.slot_counts_in[r * spr + j];
      s.local_counts[j] += s.slot_counts_in[r * spr + j];
    }
  exclusive_prefix(s.recv_rows, s.recv_row_displs);
  s.local_offsets.assign(static_cast<size_t>(spr + 1), 0);
  for (int64_t j = 0; j < spr; ++j) s.local_offsets[j + 1] = s.local_offsets[j] + s.local_counts[j];
  const int64_t R = s.local_offsets.back();

  // e. arrival order is (source, slot, source's token order); rows are grouped
  // (slot, source, source's token order). Sources are visited in rank order, so a
  // per-slot cursor places each source's block after the lower ranks' blocks.
  grow(s.row_of_arrival, R);
  s.cursor.assign(s.local_offsets.begin(), s.local_offsets.end() - 1);
  int64_t a = 0;
  for (int64_t r = 0; r < ep; ++r)
    for (int64_t j = 0; j < spr; ++j)
      for (int64_t i = 0, c = s.slot_counts_in[r * spr + j]; i < c; ++i)
        s.row_of_arrival[a++] = s.cursor[j]++;
  SADARI_ASSERT(a == R);

  grow(s.arrival_buf, R * D);
  exchange(s.send_buf.data(), s.arrival_buf.data(), /*to_experts=*/true, wire_.dispatch, s);
  grow(s.rows, R * D);
  ops::scatter_rows<T>(ctx_, s.arrival_buf.data(), s.row_of_arrival.data(), 1, s.rows.data(), R, D);
}

template <typename T>
void ExpertParallelDispatcher<T>::combine(const T* expert_out, const T* weight, T* y,
                                          DispatchState<T>& state) {
  ExpertParallelDispatchState<T>& s = dispatched(state, "combine");
  const int64_t n = s.tokens, k = s.top_k, D = s.hidden, R = s.num_rows();
  const int64_t S = s.send_row_displs.back() + s.send_rows.back();
  ops::gather_rows<T>(ctx_, expert_out, s.row_of_arrival.data(), 1, s.arrival_buf.data(), R, D);
  grow(s.returned_out, S * D);
  exchange(s.arrival_buf.data(), s.returned_out.data(), /*to_experts=*/false, wire_.combine, s);

  ops::combine_pairs<T>(ctx_, s.returned_out.data(), s.send_pos_of_pair.data(), weight, y, n, k, D);
}

template <typename T>
void ExpertParallelDispatcher<T>::combine_backward(const T* dy, const T* /*expert_out*/,
                                                   const T* weight, T* d_expert_out, T* d_weight,
                                                   DispatchState<T>& state) {
  ExpertParallelDispatchState<T>& s = dispatched(state, "combine_backward");
  const int64_t n = s.tokens, k = s.top_k, D = s.hidden, R = s.num_rows();
  // The outputs of this rank's pairs came back in combine (returned_out); the
  // d out rows are written in send order into send_buf, free since dispatch.
  T* d_out = s.send_buf.data();
  ops::combine_pairs_backward<T>(ctx_, dy, s.returned_out.data(), s.send_pos_of_pair.data(), weight, d_out,
                         d_weight, n, k, D);
  exchange(d_out, s.arrival_buf.data(), /*to_experts=*/true, wire_.backward, s);
  ops::scatter_rows<T>(ctx_, s.arrival_buf.data(), s.row_of_arrival.data(), 1, d_expert_out, R, D);
}

template <typename T>
void ExpertParallelDispatcher<T>::dispatch_backward(const T* d_rows, T* dx,
                                                    DispatchState<T>& state) {
  ExpertParallelDispatchState<T>& s = dispatched(state, "dispatch_backward");
  const int64_t n = s.tokens, k = s.top_k, D = s.hidden, R = s.num_rows();
  ops::gather_rows<T>(ctx_, d_rows, s.row_of_arrival.data(), 1, s.arrival_buf.data(), R, D);
  T* back = s.send_buf.data();
  exchange(s.arrival_buf.data(), back, /*to_experts=*/false, wire_.backward, s);
  ops::sum_pair_rows<T>(ctx_, back, s.send_pos_of_pair.data(), dx, n, k, D);
}

template class ExpertParallelDispatcher<float>;
template class ExpertParallelDispatcher<double>;

}  // namespace sadari
