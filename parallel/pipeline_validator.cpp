#include "parallel/pipeline_validator.h"

#include <map>

#include "core/error.h"

namespace sadari {

namespace {

std::string at(int rank, size_t index, const Action& a) {
  return detail::cat("pipeline schedule rank ", rank, " action ", index, " (", describe(a), ")");
}

// Positions of one (micro-batch, chunk)'s compute actions on its rank.
struct ComputeSlots {
  int forward = -1, backward = -1, backward_input = -1, backward_weight = -1;
  int recv_activation = -1, recv_gradient = -1;
};

using Key = std::tuple<int, int>;  // (micro-batch, chunk)

void check_shape(const PipelineSchedule& s, int r) {
  const auto& list = s.actions(r);
  for (size_t i = 0; i < list.size(); ++i) {
    const Action& a = list[i];
    if (!s.runs_microbatch(r, a.chunk, a.microbatch))
      fail("micro-batch or chunk out of range, or this micro-batch does not pass this chunk",
           at(r, i, a), "fix the generator");
    if (a.overlap_with_next &&
        (!is_compute(a.kind) || i + 1 >= list.size() || !is_compute(list[i + 1].kind)))
      fail("an overlapped action must be a compute followed directly by a compute", at(r, i, a),
           "fix the generator");
    if (is_compute(a.kind)) continue;
    const StageLocation here{r, a.chunk};
    const bool towards_next =
        a.kind == ActionKind::send_activation || a.kind == ActionKind::recv_gradient;
    const auto expected = towards_next ? s.next_location(a.microbatch, here)
                                       : s.previous_location(a.microbatch, here);
    if (!expected || expected->rank == r)
      fail("message with no remote peer (first/last stage, or the neighbour stage is on "
           "this rank)",
           at(r, i, a), "fix the generator");
    if (a.peer != expected->rank || a.peer_chunk != expected->chunk)
      fail(detail::cat("message peer should be rank ", expected->rank, " chunk ",
                       expected->chunk),
           at(r, i, a), "fix the generator");
  }
}

}  // namespace

void validate_schedule(const PipelineSchedule& s) {
  const int P = s.ranks(), M = s.microbatches();
  for (int r = 0; r < P; ++r) check_shape(s, r);

  // 2 and 3 per rank.
  std::vector<std::map<Key, ComputeSlots>> slots(static_cast<size_t>(P));
  for (int r = 0; r < P; ++r) {
    const auto& list = s.actions(r);
    auto& mine = slots[static_cast<size_t>(r)];
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      ComputeSlots& c = mine[{a.microbatch, a.chunk}];
      int* slot = nullptr;
      switch (a.kind) {
        case ActionKind::forward: slot = &c.forward; break;
        case ActionKind::backward: slot = &c.backward; break;
        case ActionKind::backward_input: slot = &c.backward_input; break;
        case ActionKind::backward_weight: slot = &c.backward_weight; break;
        case ActionKind::recv_activation: slot = &c.recv_activation; break;
        case ActionKind::recv_gradient: slot = &c.recv_gradient; break;
        default: break;
      }
      if (slot) {
        if (*slot >= 0)
          fail(detail::cat("runs twice (first at action ", *slot, ")"), at(r, i, a),
               "each micro-batch runs each compute once per chunk");
        *slot = static_cast<int>(i);
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    for (int stage = 0; stage < s.num_stages(); ++stage) {
      const StageLocation loc = s.location_of(m, stage);
      const ComputeSlots c = slots[static_cast<size_t>(loc.rank)][{m, loc.chunk}];
      const std::string where = detail::cat("pipeline schedule rank ", loc.rank, " micro-batch ",
                                            m, " chunk ", loc.chunk, " (stage ", stage, ")");
      if (c.forward < 0) fail("forward missing", where, "fix the generator");
      const bool full = c.backward >= 0;
      const bool split = c.backward_input >= 0 || c.backward_weight >= 0;
      if (full == split || (split && (c.backward_input < 0 || c.backward_weight < 0)))
        fail("needs exactly one backward, or one backward_input and one backward_weight",
             where, "fix the generator");
      const int b = full ? c.backward : c.backward_input;
      if (b < c.forward) fail("backward before its forward", where, "fix the generator");
      if (split && c.backward_weight < c.backward_input)
        fail("backward_weight before its backward_input", where, "fix the generator");
      // Cross-stage order: the previous stage's forward, the next stage's backward.
      if (stage > 0) {
        const StageLocation prev = s.location_of(m, stage - 1);
        if (prev.rank == loc.rank) {
          const int pf = slots[static_cast<size_t>(prev.rank)][{m, prev.chunk}].forward;
          if (pf < 0 || pf > c.forward)
            fail("forward before the previous stage's forward on this rank", where,
                 "fix the generator");
        } else if (c.recv_activation < 0 || c.recv_activation > c.forward) {
          fail("forward without an earlier recv_activation", where, "fix the generator");
        }
      }
      if (stage + 1 < s.num_stages()) {
        const StageLocation next = s.location_of(m, stage + 1);
        if (next.rank == loc.rank) {
          const ComputeSlots& n = slots[static_cast<size_t>(next.rank)][{m, next.chunk}];
          const int nb = n.backward >= 0 ? n.backward : n.backward_input;
          if (nb < 0 || nb > b)
            fail("backward before the next stage's backward on this rank", where,
                 "fix the generator");
        } else if (c.recv_gradient < 0 || c.recv_gradient > b) {
          fail("backward without an earlier recv_gradient", where, "fix the generator");
        }
      }
    }
  }
  // Sends after their producer; collect messages for matching.
  std::map<MessageKey, std::pair<int, int>> sends, recvs;  // -> (rank, index)
  for (int r = 0; r < P; ++r) {
    const auto& list = s.actions(r);
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      if (is_compute(a.kind)) continue;
      if (is_send(a.kind)) {
        const ComputeSlots& c = slots[static_cast<size_t>(r)][{a.microbatch, a.chunk}];
        const int producer = a.kind == ActionKind::send_activation
                                 ? c.forward
                                 : (c.backward >= 0 ? c.backward : c.backward_input);
        if (producer < 0 || producer > static_cast<int>(i))
          fail("send before the compute that produces its data", at(r, i, a),
               "fix the generator");
      }
      auto& table = is_send(a.kind) ? sends : recvs;
      const auto [it, fresh] = table.emplace(message_key(r, a), std::make_pair(r, static_cast<int>(i)));
      if (!fresh)
        fail(detail::cat("duplicate message (also at rank ", it->second.first, " action ",
                         it->second.second, ")"),
             at(r, i, a), "fix the generator");
    }
  }
  for (const auto& [key, pos] : sends)
    if (!recvs.count(key)) {
      const Action& a = s.actions(pos.first)[static_cast<size_t>(pos.second)];
      fail(detail::cat("send without a matching receive on rank ", a.peer), at(pos.first, pos.second, a),
           "fix the generator");
    }
  for (const auto& [key, pos] : recvs)
    if (!sends.count(key)) {
      const Action& a = s.actions(pos.first)[static_cast<size_t>(pos.second)];
      fail(detail::cat("receive without a matching send on rank ", a.peer),
           at(pos.first, pos.second, a), "fix the generator");
    }

  // 5. Progress under "sends never block, a receive waits for its send".
  std::vector<size_t> next(static_cast<size_t>(P), 0);
  std::map<MessageKey, bool> posted;
  bool progress = true;
  while (progress) {
    progress = false;
    for (int r = 0; r < P; ++r) {
      const auto& list = s.actions(r);
      size_t& i = next[static_cast<size_t>(r)];
      while (i < list.size()) {
        const Action& a = list[i];
        if (is_recv(a.kind) && !posted.count(message_key(r, a))) break;
        if (is_send(a.kind)) posted[message_key(r, a)] = true;
        ++i;
        progress = true;
      }
    }
  }
  std::string stuck;
  int first_stuck = -1;
  for (int r = 0; r < P; ++r) {
    const size_t i = next[static_cast<size_t>(r)];
    if (i == s.actions(r).size()) continue;
    if (first_stuck < 0) first_stuck = r;
    const Action& a = s.actions(r)[i];
    stuck += detail::cat(stuck.empty() ? "" : "; ", "rank ", r, " at action ", i, " (",
                         describe(a), ") waits for rank ", a.peer, " stopped at action ",
                         next[static_cast<size_t>(a.peer)]);
  }
  if (first_stuck >= 0)
    fail("deadlock: " + stuck, detail::cat("pipeline schedule ", to_string(s.kind())),
         "reorder the actions so that every receive's send can be reached");
}

}  // namespace sadari
