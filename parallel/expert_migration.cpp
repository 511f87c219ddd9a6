#include "parallel/expert_migration.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace sadari {

namespace {

// The old slot of expert e on rank r, or -1.
int64_t slot_of(const ExpertPlacement& p, int r, int64_t e) {
  for (const auto& rep : p.replicas(e))
    if (rep.rank == r) return rep.slot;
  return -1;
}

// The rank whose old copy of expert e fills a new slot on rank b (rule in the header).
int source_of(const ExpertPlacement& from, int64_t e, int b) {
  if (slot_of(from, b, e) >= 0) return b;
  const auto& reps = from.replicas(e);
  return reps[static_cast<size_t>(b) % reps.size()].rank;
}

// One expert slot's data: gate_up and down values, then m, then v.
struct SlotLayout {
  int64_t gate_up = 0, down = 0;
  int64_t block() const { return 3 * (gate_up + down); }
};

void check_move(const ExpertMove& mv, int ep_size, int me) {
  SADARI_CHECK(mv.layer && mv.from && mv.to, "expert migration: a move without layer or placements");
  const int64_t l = mv.layer->layer();
  const std::string where = detail::cat("expert migration, MoE layer ", l);
  if (mv.from->ranks() != ep_size || mv.to->ranks() != ep_size)
    fail(detail::cat("placements over ", mv.from->ranks(), " and ", mv.to->ranks(),
                     " ranks, the ep group has ", ep_size),
         where, "build both placements for the ep group's size");
  if (mv.from->experts() != mv.to->experts() ||
      mv.from->slots_per_rank() != mv.to->slots_per_rank() ||
      mv.to->slots_per_rank() != mv.layer->local_experts())
    fail(detail::cat("placements of ", mv.from->experts(), " and ", mv.to->experts(),
                     " experts with ", mv.from->slots_per_rank(), " and ",
                     mv.to->slots_per_rank(), " slots per rank; the layer has ",
                     mv.layer->local_experts(), " slots"),
         where, "a migration keeps the experts and the slots per rank (parallel.expert_slots)");
  for (int64_t j = 0; j < mv.layer->local_experts(); ++j)
    if (mv.layer->local_expert_id(j) != mv.from->rank_slots(me)[static_cast<size_t>(j)])
      fail(detail::cat("local slot ", j, " holds expert ", mv.layer->local_expert_id(j),
                       ", the old placement says ", mv.from->rank_slots(me)[static_cast<size_t>(j)]),
           where, "pass the placement the layer's dispatcher was built with as `from`");
  if (!mv.to_dispatcher && !(*mv.from == *mv.to))
    fail("the placement changes but no new dispatcher is given", where,
         "build an ExpertParallelDispatcher over the new placement");
}

}  // namespace

int64_t slots_changing(const ExpertPlacement& from, const ExpertPlacement& to) {
  int64_t n = 0;
  for (int r = 0; r < to.ranks(); ++r)
    for (int64_t e : to.rank_slots(r)) n += slot_of(from, r, e) < 0;
  return n;
}

MigrationStats migrate_experts(const std::vector<ExpertMove>& moves, Communicator& ep,
                               DistributedOptimizer& optimizer) {
  const int P = ep.size(), me = ep.rank();
  MigrationStats stats;
  bool changes = false;
  for (const ExpertMove& mv : moves) {
    check_move(mv, P, me);
    stats.moved_slots += slots_changing(*mv.from, *mv.to);
    changes = changes || !(*mv.from == *mv.to);
  }
  if (!changes) return stats;
  {
    // Every expert parameter the optimizer reduces must be in a move; checked
    // before any communication (the same on every rank).
    std::unordered_map<const Parameter*, bool> listed;
    for (const ExpertMove& mv : moves)
      for (int64_t j = 0; j < mv.layer->local_experts(); ++j) {
        listed[mv.layer->expert_gate_up(j)] = true;
        listed[mv.layer->expert_down(j)] = true;
      }
    const auto& groups = optimizer.groups();
    for (size_t gi = 1; gi < groups.size(); ++gi)
      for (const Parameter* p : groups[gi].buckets->params())
        if (!listed.count(p))
          fail("an expert parameter of the optimizer belongs to no migrated layer",
               "parameter " + p->name,
               "list every MoE layer in the moves (from == to when unchanged)");
  }

  // 1. Whole moments of every expert parameter here (collective over dp).
  const DistributedOptimizer::MomentsOf moments = optimizer.expert_moments();
  auto moments_of = [&](const Parameter* p) -> const DistributedOptimizer::Moments& {
    const auto it = moments.find(p);
    if (it == moments.end())
      fail("the optimizer holds no state for this expert parameter", "parameter " + p->name,
           "migrate only layers whose parameters the optimizer was built with");
    return it->second;
  };
  std::vector<SlotLayout> layouts;
  for (const ExpertMove& mv : moves)
    layouts.push_back({mv.layer->expert_gate_up(0)->numel(), mv.layer->expert_down(0)->numel()});

  // Packs old local slot s of layer l at dst (block() floats).
  auto pack = [&](size_t l, int64_t s, float* dst) {
    const Parameter* gu = moves[l].layer->expert_gate_up(s);
    const Parameter* dn = moves[l].layer->expert_down(s);
    const SlotLayout& L = layouts[l];
    const auto& mg = moments_of(gu);
    const auto& md = moments_of(dn);
    auto put = [&dst](const float* src, int64_t n) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      dst += n;
    };
    put(gu->w<float>(), L.gate_up);
    put(dn->w<float>(), L.down);
    put(mg.m.data(), L.gate_up);
    put(md.m.data(), L.down);
    put(mg.v.data(), L.gate_up);
    put(md.v.data(), L.down);
  };

  // 2-3. Send blocks to every destination in (layer, destination slot) order;
  // blocks this rank keeps are staged too, before anything is overwritten.
  std::vector<int64_t> send_counts(static_cast<size_t>(P), 0), recv_counts(send_counts);
  for (int b = 0; b < P; ++b) {
    if (b == me) continue;
    for (size_t l = 0; l < moves.size(); ++l)
      for (int64_t e : moves[l].to->rank_slots(b)) {
        if (source_of(*moves[l].from, e, b) == me) send_counts[b] += layouts[l].block();
      }
    for (size_t l = 0; l < moves.size(); ++l)
      for (int64_t e : moves[l].to->rank_slots(me))
        if (source_of(*moves[l].from, e, me) == b) recv_counts[b] += layouts[l].block();
  }
  std::vector<int64_t> send_displs(static_cast<size_t>(P)), recv_displs(send_displs);
  int64_t send_total = 0, recv_total = 0;
  for (int r = 0; r < P; ++r) {
    send_displs[r] = send_total;
    send_total += send_counts[r];
    recv_displs[r] = recv_total;
    recv_total += recv_counts[r];
  }
  std::vector<float> send(static_cast<size_t>(send_total)), recv(static_cast<size_t>(recv_total));
  for (int b = 0; b < P; ++b) {
    if (b == me) continue;
    float* at = send.data() + send_displs[b];
    for (size_t l = 0; l < moves.size(); ++l)
      for (int64_t e : moves[l].to->rank_slots(b))
        if (source_of(*moves[l].from, e, b) == me) {
          pack(l, slot_of(*moves[l].from, me, e), at);
          at += layouts[l].block();
        }
  }
  // The new contents of this rank's slots: staged[l][j].
  std::vector<std::vector<std::vector<float>>> staged(moves.size());
  for (size_t l = 0; l < moves.size(); ++l) {
    const std::vector<int64_t>& mine = moves[l].to->rank_slots(me);
    staged[l].resize(mine.size());
    for (size_t j = 0; j < mine.size(); ++j)
      if (source_of(*moves[l].from, mine[j], me) == me) {
        staged[l][j].resize(static_cast<size_t>(layouts[l].block()));
        pack(l, slot_of(*moves[l].from, me, mine[j]), staged[l][j].data());
      }
  }
  ep.all_to_all_v(send.data(), send_counts.data(), send_displs.data(), recv.data(),
                  recv_counts.data(), recv_displs.data(), DType::f32);
  stats.sent_floats = send_total;
  {
    std::vector<int64_t> cursor = recv_displs;  // per source, in (layer, slot) order
    for (size_t l = 0; l < moves.size(); ++l) {
      const std::vector<int64_t>& mine = moves[l].to->rank_slots(me);
      for (size_t j = 0; j < mine.size(); ++j) {
        const int a = source_of(*moves[l].from, mine[j], me);
        if (a == me) continue;
        const float* src = recv.data() + cursor[a];
        staged[l][j].assign(src, src + layouts[l].block());
        cursor[a] += layouts[l].block();
      }
    }
  }

  // 4. Rename, write, and re-form the optimizer's expert groups.
  DistributedOptimizer::MomentsOf moved;
  std::unordered_map<const Parameter*, const ExpertPlacement*> placement_of_param;
  for (size_t l = 0; l < moves.size(); ++l) {
    const ExpertMove& mv = moves[l];
    if (mv.to_dispatcher) mv.layer->set_dispatcher(*mv.to_dispatcher);
    const SlotLayout& L = layouts[l];
    for (int64_t j = 0; j < mv.layer->local_experts(); ++j) {
      Parameter* gu = mv.layer->expert_gate_up(j);
      Parameter* dn = mv.layer->expert_down(j);
      const float* src = staged[l][static_cast<size_t>(j)].data();
      std::memcpy(gu->w<float>(), src, static_cast<size_t>(L.gate_up) * sizeof(float));
      src += L.gate_up;
      std::memcpy(dn->w<float>(), src, static_cast<size_t>(L.down) * sizeof(float));
      src += L.down;
      DistributedOptimizer::Moments& mg = moved[gu];
      DistributedOptimizer::Moments& md = moved[dn];
      mg.m.assign(src, src + L.gate_up);
      src += L.gate_up;
      md.m.assign(src, src + L.down);
      src += L.down;
      mg.v.assign(src, src + L.gate_up);
      src += L.gate_up;
      md.v.assign(src, src + L.down);
      placement_of_param[gu] = mv.to;
      placement_of_param[dn] = mv.to;
    }
  }
  optimizer.rebuild_expert_groups(
      [&](const Parameter& p) -> const ExpertPlacement* {
        const auto it = placement_of_param.find(&p);
        return it == placement_of_param.end() ? nullptr : it->second;
      },
      moved);
  return stats;
}

}  // namespace sadari
