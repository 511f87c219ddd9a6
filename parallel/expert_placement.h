// Expert placement: which rank of the expert-parallel (ep) group holds which
// logical expert, as physical slots.
//
// Every ep rank has the same number of slots (slots_per_rank); slot j of rank r
// holds one logical expert (rank_slots(r)[j]). A logical expert may be held by
// several slots on different ranks: replicas, for hot experts (a later planner
// fills them from load statistics). A replica is a full copy of the expert's
// parameters; its gradients must be summed with those of the other replicas.
//
// Validity (checked by from_slots; errors name the rank, slot and expert):
//   - every logical expert in [0, E) has at least one slot;
//   - every rank has the same number of slots (>= 1), and every slot holds an
//     expert in [0, E);
//   - no rank holds two replicas of one expert (so on one rank a logical id
//     names one slot, and one parameter).
//
// Identity placement (identity()): rank i holds experts [i*E/ep, (i+1)*E/ep),
// one slot each, in order; REQUIRES ep divides E.
//
// Spreading tokens over replicas (replica_for): the pair (token t of source rank
// s, routed to expert e with replicas R_e, ordered by rank) goes to replica
//   R_e[(s + t) mod |R_e|].
// It depends only on the source rank and the token's index in the source's
// micro-batch, never on timing or on other ranks' loads, so results are
// reproducible; consecutive tokens alternate over the replicas, and the offset by
// source rank keeps every rank's token 0 from landing on the same replica.
//
// Immutable after construction; copies are cheap enough (E + ep*slots ints).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sadari {

class ExpertPlacement {
 public:
  struct Replica {
    int rank = 0;      // rank in the ep group
    int64_t slot = 0;  // slot index on that rank
  };

  // Rank i holds experts [i*E/ep, (i+1)*E/ep). Throws Error unless E >= 1,
  // ep >= 1 and ep divides E (names parallel.ep / model.experts).
  static ExpertPlacement identity(int64_t experts, int ep);

  // Slot j of rank r holds expert (r * slots_per_rank + j) mod E: the identity
  // placement when slots_per_rank * ep == E; with more slots the experts are
  // laid out once in rank order and the extra slots wrap around, holding
  // replicas of experts 0, 1, ... (the initial placement when no load statistics
  // exist yet). Throws Error unless slots_per_rank * ep >= E (every expert held)
  // and slots_per_rank <= E (no rank holds an expert twice); names
  // parallel.expert_slots.
  static ExpertPlacement round_robin(int64_t experts, int ep, int64_t slots_per_rank);

  // rank_slots[r][j]: the logical expert in slot j of rank r. Validates (see the
  // header comment) and throws Error naming the offending rank, slot or expert.
  static ExpertPlacement from_slots(int64_t experts, std::vector<std::vector<int64_t>> rank_slots);

  int64_t experts() const { return experts_; }  // E, logical
  int ranks() const { return static_cast<int>(rank_slots_.size()); }
  int64_t slots_per_rank() const { return slots_per_rank_; }
  // Logical expert ids of rank r's slots, in slot order. REQUIRES 0 <= r < ranks().
  const std::vector<int64_t>& rank_slots(int r) const { return rank_slots_[r]; }
  // All replicas of expert e, ordered by rank. REQUIRES 0 <= e < experts().
  const std::vector<Replica>& replicas(int64_t e) const { return replicas_[e]; }
  bool has_replicas() const { return ranks() * slots_per_rank_ > experts_; }

  // The replica that processes token `token` of source rank `source_rank`
  // routed to expert e (rule above).
  const Replica& replica_for(int64_t e, int source_rank, int64_t token) const {
    const std::vector<Replica>& r = replicas_[e];
    return r[static_cast<size_t>((source_rank + token) % static_cast<int64_t>(r.size()))];
  }

  // "rank 0: [0 1] | rank 1: [2 3]" for messages and logs.
  std::string describe() const;

  bool operator==(const ExpertPlacement& other) const {
    return experts_ == other.experts_ && rank_slots_ == other.rank_slots_;
  }

 private:
  ExpertPlacement() = default;
  int64_t experts_ = 0;
  int64_t slots_per_rank_ = 0;
  std::vector<std::vector<int64_t>> rank_slots_;
  std::vector<std::vector<Replica>> replicas_;
};

}  // namespace sadari
