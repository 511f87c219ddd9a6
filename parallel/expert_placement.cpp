#include "parallel/expert_placement.h"

#include <sstream>
#include <utility>

#include "core/error.h"

namespace sadari {

ExpertPlacement ExpertPlacement::identity(int64_t experts, int ep) {
  if (experts < 1)
    fail(detail::cat("expert placement needs at least one expert, got ", experts),
         "model.experts");
  if (ep < 1) fail(detail::cat("expert-parallel size ", ep, " must be >= 1"), "parallel.ep");
  if (experts % ep != 0)
    fail(detail::cat(experts, " experts cannot be split evenly over ", ep, " ep ranks"),
         "parallel.ep", "choose parallel.ep dividing model.experts");
  const int64_t per_rank = experts / ep;
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(ep));
  for (int r = 0; r < ep; ++r)
    for (int64_t j = 0; j < per_rank; ++j) slots[r].push_back(r * per_rank + j);
  return from_slots(experts, std::move(slots));
}

ExpertPlacement ExpertPlacement::round_robin(int64_t experts, int ep, int64_t slots_per_rank) {
  if (experts < 1)
    fail(detail::cat("expert placement needs at least one expert, got ", experts),
         "model.experts");
  if (ep < 1) fail(detail::cat("expert-parallel size ", ep, " must be >= 1"), "parallel.ep");
  if (slots_per_rank * ep < experts || slots_per_rank > experts)
    fail(detail::cat(slots_per_rank, " expert slots on each of ", ep, " ep ranks cannot hold ",
                     experts, " experts"),
         "parallel.expert_slots",
         detail::cat("use between ", (experts + ep - 1) / ep, " and ", experts,
                     " slots per rank"));
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(ep));
  for (int r = 0; r < ep; ++r)
    for (int64_t j = 0; j < slots_per_rank; ++j)
      slots[r].push_back((r * slots_per_rank + j) % experts);
  return from_slots(experts, std::move(slots));
}

ExpertPlacement ExpertPlacement::from_slots(int64_t experts,
                                            std::vector<std::vector<int64_t>> rank_slots) {
  const std::string where = "expert placement";
  if (experts < 1)
    fail(detail::cat("needs at least one expert, got ", experts), where);
  if (rank_slots.empty()) fail("has no ranks", where, "give one slot list per ep rank");
  const int64_t per_rank = static_cast<int64_t>(rank_slots[0].size());
  ExpertPlacement p;
  p.experts_ = experts;
  p.slots_per_rank_ = per_rank;
  p.replicas_.assign(static_cast<size_t>(experts), {});
  for (size_t r = 0; r < rank_slots.size(); ++r) {
    const std::vector<int64_t>& slots = rank_slots[r];
    if (static_cast<int64_t>(slots.size()) != per_rank || per_rank < 1)
      fail(detail::cat("rank ", r, " has ", slots.size(), " slots, rank 0 has ", per_rank),
           where, "every ep rank must hold the same number (>= 1) of expert slots");
    for (size_t j = 0; j < slots.size(); ++j) {
      const int64_t e = slots[j];
      if (e < 0 || e >= experts)
        fail(detail::cat("rank ", r, " slot ", j, " holds expert ", e, ", outside [0, ", experts,
                         ")"),
             where, "slots hold logical expert ids of the model");
      std::vector<Replica>& reps = p.replicas_[e];
      if (!reps.empty() && reps.back().rank == static_cast<int>(r))
        fail(detail::cat("rank ", r, " holds expert ", e, " twice (slots ", reps.back().slot,
                         " and ", j, ")"),
             where, "put a second replica of an expert on another rank");
      reps.push_back({static_cast<int>(r), static_cast<int64_t>(j)});
    }
  }
  for (int64_t e = 0; e < experts; ++e)
    if (p.replicas_[e].empty())
      fail(detail::cat("expert ", e, " has no slot on any rank"), where,
           "every logical expert needs at least one slot");
  p.rank_slots_ = std::move(rank_slots);
  return p;
}

std::string ExpertPlacement::describe() const {
  std::ostringstream out;
  for (int r = 0; r < ranks(); ++r) {
    out << (r ? " | " : "") << "rank " << r << ": [";
    for (size_t j = 0; j < rank_slots_[r].size(); ++j) out << (j ? " " : "") << rank_slots_[r][j];
    out << "]";
  }
  return out.str();
}

}  // namespace sadari
