#include "parallel/pipeline_generators.h"

#include <algorithm>
#include <deque>

#include "core/error.h"

namespace sadari {

namespace {

Action compute(ActionKind kind, int microbatch, int chunk) {
  Action a;
  a.kind = kind;
  a.microbatch = microbatch;
  a.chunk = chunk;
  return a;
}

}  // namespace

PipelineSchedule generate_schedule(const ScheduleRequest& r, const std::string& where,
                                   const ScheduleOptionNames& n) {
  const std::string kind = to_string(r.kind);
  if (r.ranks < 1)
    fail(detail::cat("pipeline stages (", n.ranks, ") must be at least 1, got ", r.ranks), where,
         detail::cat("set ", n.ranks, " to 1 or more"));
  if (r.microbatches < 1)
    fail(detail::cat("micro-batches (", n.microbatches, ") must be at least 1, got ",
                     r.microbatches),
         where, detail::cat("set ", n.microbatches, " to 1 or more"));
  int chunks = r.chunks_per_rank;
  switch (r.kind) {
    case ScheduleKind::interleaved_1f1b: {
      if (chunks == 0) chunks = 2;
      if (chunks < 2)
        fail(detail::cat("interleaved 1F1B needs at least 2 chunks per rank (", n.chunks,
                         "), got ", chunks),
             where,
             detail::cat("set ", n.chunks, " to 2 or more, or ", n.kind,
                         " to 1f1b for one chunk per rank"));
      if (r.microbatches % r.ranks != 0)
        fail(detail::cat("interleaved 1F1B needs the micro-batches (", n.microbatches,
                         ") to be a multiple of the stages (", n.ranks, " = ", r.ranks, "), got ",
                         r.microbatches),
             where,
             detail::cat("set ", n.microbatches, " to ", (r.microbatches / r.ranks + 1) * r.ranks,
                         " (or another multiple of ", r.ranks, ")"));
      return generate_interleaved_1f1b(r.ranks, r.microbatches, chunks);
    }
    case ScheduleKind::dualpipe:
    case ScheduleKind::dualpipe_v: {
      const bool v = r.kind == ScheduleKind::dualpipe_v;
      if (chunks != 0 && chunks != 2)
        fail(detail::cat(kind, " holds exactly 2 chunks per rank (", n.chunks, "), got ", chunks),
             where, detail::cat("set ", n.chunks, " to 2"));
      if (!v && r.ranks % 2 != 0)
        fail(detail::cat("DualPipe needs an even number of stages (", n.ranks, "), got ", r.ranks,
                         ": rank r pairs with rank P-1-r"),
             where,
             detail::cat("set ", n.ranks, " to ", r.ranks + 1, ", or ", n.kind,
                         " to dualpipev (any number of stages)"));
      if (!v && r.microbatches % 2 != 0)
        fail(detail::cat("DualPipe needs an even number of micro-batches (", n.microbatches,
                         "), got ", r.microbatches, ": half enter at each end"),
             where,
             detail::cat("set ", n.microbatches, " to ",
                         std::max(r.microbatches + 1, 2 * r.ranks)));
      if (r.microbatches < 2 * r.ranks)
        fail(detail::cat(kind, " needs at least 2 x stages = ", 2 * r.ranks, " micro-batches (",
                         n.microbatches, "), got ", r.microbatches),
             where, detail::cat("set ", n.microbatches, " to ", 2 * r.ranks, " or more"));
      return v ? generate_dualpipe_v(r.ranks, r.microbatches)
               : generate_dualpipe(r.ranks, r.microbatches);
    }
    default: {
      if (chunks != 0 && chunks != 1)
        fail(detail::cat(kind, " holds one chunk per rank, got ", n.chunks, " = ", chunks),
             where,
             detail::cat("set ", n.chunks, " to 1, or ", n.kind,
                         " to interleaved for several chunks per rank"));
      if (r.kind == ScheduleKind::gpipe) return generate_gpipe(r.ranks, r.microbatches);
      if (r.kind == ScheduleKind::one_f_one_b) return generate_1f1b(r.ranks, r.microbatches);
      return generate_zb_h1(r.ranks, r.microbatches);
    }
  }
}

// GPipe: all forwards, then all backwards.
PipelineSchedule generate_gpipe(int P, int M) {
  PipelineSchedule s(ScheduleKind::gpipe, P, M, 1);
  for (int r = 0; r < P; ++r) {
    auto& list = s.mutable_actions(r);
    for (int m = 0; m < M; ++m) list.push_back(compute(ActionKind::forward, m, 0));
    for (int m = 0; m < M; ++m) list.push_back(compute(ActionKind::backward, m, 0));
  }
  insert_communication(s);
  return s;
}

// 1F1B (PipeDream-flush): rank r runs P-1-r warm-up forwards, then alternates one
// forward and one backward, then drains the remaining backwards. At most P-r
// micro-batches are in flight on rank r.
PipelineSchedule generate_1f1b(int P, int M) {
  PipelineSchedule s(ScheduleKind::one_f_one_b, P, M, 1);
  for (int r = 0; r < P; ++r) {
    auto& list = s.mutable_actions(r);
    const int warmup = std::min(P - 1 - r, M);
    for (int m = 0; m < warmup; ++m) list.push_back(compute(ActionKind::forward, m, 0));
    for (int i = 0; i + warmup < M; ++i) {
      list.push_back(compute(ActionKind::forward, warmup + i, 0));
      list.push_back(compute(ActionKind::backward, i, 0));
    }
    for (int m = M - warmup; m < M; ++m) list.push_back(compute(ActionKind::backward, m, 0));
  }
  insert_communication(s);
  return s;
}

// Interleaved 1F1B (Megatron's virtual pipeline). Micro-batches go in rounds of P:
// the k-th forward of a rank is chunk (k / P) % V of micro-batch (k / (P V)) P + k % P;
// backwards visit chunks in reverse order. Warm-up is 2(P-1-r) + (V-1)P forwards, so
// the first backward's gradient has arrived when the steady 1F1B phase needs it.
PipelineSchedule generate_interleaved_1f1b(int P, int M, int V) {
  PipelineSchedule s(ScheduleKind::interleaved_1f1b, P, M, V);
  const int total = M * V;
  auto microbatch_of = [&](int k) { return (k / (P * V)) * P + k % P; };
  auto forward_chunk = [&](int k) { return (k / P) % V; };
  auto backward_chunk = [&](int k) { return V - 1 - (k / P) % V; };
  for (int r = 0; r < P; ++r) {
    auto& list = s.mutable_actions(r);
    const int warmup = std::min(2 * (P - 1 - r) + (V - 1) * P, total);
    for (int k = 0; k < warmup; ++k)
      list.push_back(compute(ActionKind::forward, microbatch_of(k), forward_chunk(k)));
    for (int i = 0; i + warmup < total; ++i) {
      const int k = warmup + i;
      list.push_back(compute(ActionKind::forward, microbatch_of(k), forward_chunk(k)));
      list.push_back(compute(ActionKind::backward, microbatch_of(i), backward_chunk(i)));
    }
    for (int k = total - warmup; k < total; ++k)
      list.push_back(compute(ActionKind::backward, microbatch_of(k), backward_chunk(k)));
  }
  insert_communication(s);
  return s;
}

// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", 2024): 1F1B with the backward
// split into B (input gradient, on the critical path: sent upstream at once) and W
// (weight gradient, off the critical path). Rank r runs 1F1B's warm-up, then F, B and
// lets up to r weight passes wait, which fills the cool-down bubble; the in-flight
// activations (a forward counts until its W ran) stay at most P-r-1+1+r = P, the
// peak of 1F1B on rank 0.
PipelineSchedule generate_zb_h1(int P, int M) {
  PipelineSchedule s(ScheduleKind::zb_h1, P, M, 1);
  for (int r = 0; r < P; ++r) {
    auto& list = s.mutable_actions(r);
    const int warmup = std::min(P - 1 - r, M);
    std::deque<int> pending_w;
    auto backward_then_maybe_w = [&](int m) {
      list.push_back(compute(ActionKind::backward_input, m, 0));
      pending_w.push_back(m);
      if (static_cast<int>(pending_w.size()) > r) {
        list.push_back(compute(ActionKind::backward_weight, pending_w.front(), 0));
        pending_w.pop_front();
      }
    };
    for (int m = 0; m < warmup; ++m) list.push_back(compute(ActionKind::forward, m, 0));
    for (int i = 0; i + warmup < M; ++i) {
      list.push_back(compute(ActionKind::forward, warmup + i, 0));
      backward_then_maybe_w(i);
    }
    for (int m = M - warmup; m < M; ++m) backward_then_maybe_w(m);
    for (int m : pending_w) list.push_back(compute(ActionKind::backward_weight, m, 0));
  }
  insert_communication(s);
  return s;
}

void insert_communication(PipelineSchedule& s) {
  for (int r = 0; r < s.ranks(); ++r) {
    const std::vector<Action> computes = s.actions(r);
    std::vector<Action> out;
    out.reserve(computes.size() * 3);
    size_t i = 0;
    while (i < computes.size()) {
      // An overlapped group: computes[i..j] (j inclusive).
      size_t j = i;
      while (computes[j].overlap_with_next && j + 1 < computes.size()) ++j;
      std::vector<Action> sends;
      for (size_t k = i; k <= j; ++k) {
        const Action& c = computes[k];
        SADARI_ASSERT(is_compute(c.kind));
        const StageLocation here{r, c.chunk};
        const auto prev = s.previous_location(c.microbatch, here);
        const auto next = s.next_location(c.microbatch, here);
        auto message = [&](ActionKind kind, const StageLocation& peer) {
          Action a;
          a.kind = kind;
          a.microbatch = c.microbatch;
          a.chunk = c.chunk;
          a.peer = peer.rank;
          a.peer_chunk = peer.chunk;
          return a;
        };
        if (c.kind == ActionKind::forward) {
          if (prev && prev->rank != r) out.push_back(message(ActionKind::recv_activation, *prev));
          if (next && next->rank != r) sends.push_back(message(ActionKind::send_activation, *next));
        } else if (c.kind == ActionKind::backward || c.kind == ActionKind::backward_input) {
          if (next && next->rank != r) out.push_back(message(ActionKind::recv_gradient, *next));
          if (prev && prev->rank != r) sends.push_back(message(ActionKind::send_gradient, *prev));
        }
      }
      for (size_t k = i; k <= j; ++k) out.push_back(computes[k]);
      out.insert(out.end(), sends.begin(), sends.end());
      i = j + 1;
    }
    s.mutable_actions(r) = std::move(out);
  }
}

}  // namespace sadari
