#include "parallel/distributed_optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/profile.h"

namespace sadari {

namespace {

std::string describe_ranks(const std::vector<int>& ranks) {
  std::string s = "{";
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ranks[i]);
  }
  return s + "}";
}

}  // namespace

DistributedOptimizer::DistributedOptimizer(const OptimConfig& optim,
                                           const ParallelConfig& parallel,
                                           ParameterStore& params, ProcessGroups& groups,
                                           const ExpertPlacement* placement,
                                           const ExecContext& ctx)
    : DistributedOptimizer(optim, parallel, params, groups,
                           [placement](const Parameter&) { return placement; }, ctx) {}

DistributedOptimizer::DistributedOptimizer(const OptimConfig& optim,
                                           const ParallelConfig& parallel,
                                           ParameterStore& params, ProcessGroups& groups,
                                           const PlacementOf& placement_of,
                                           const ExecContext& ctx)
    : cfg_(optim),
      ctx_(ctx),
      zero_stage_(static_cast<int>(parallel.zero_stage)),
      params_(&params),
      process_groups_(&groups) {
  SADARI_CHECK(zero_stage_ == 0 || zero_stage_ == 1, "zero_stage ", zero_stage_,
               " is not supported (use 0 or 1)");
  SADARI_CHECK(params.dtype() == DType::f32, "the distributed optimizer needs f32 parameters");
  bucket_elements_ =
      std::max<int64_t>(1, static_cast<int64_t>(parallel.bucket_mb * 1024.0 * 1024.0 / 4.0));
  std::vector<Parameter*> dense;
  for (const auto& p : params.all())
    if (p->trainable && p->expert_id < 0) dense.push_back(p.get());
  add_group("dense", *groups.dp, dense, bucket_elements_);
  add_expert_groups(placement_of);
  if (zero_stage_ == 0) replicated_ = std::make_unique<AdamW>(optim, params, ctx_);
}

void DistributedOptimizer::add_expert_groups(const PlacementOf& placement_of) {
  ProcessGroups& groups = *process_groups_;
  // The ep indices holding a logical expert under a placement (one, unless replicated).
  auto holders_of = [](const ExpertPlacement* placement, int64_t expert) {
    std::vector<int> ranks;
    if (!placement) return ranks;
    for (const auto& r : placement->replicas(expert)) ranks.push_back(r.rank);
    std::sort(ranks.begin(), ranks.end());
    return ranks;
  };
  std::vector<Parameter*> experts;
  std::map<std::vector<int>, std::vector<Parameter*>> replicated;  // holder set -> params here
  std::map<std::vector<int>, bool> holder_sets;  // over every placement reached
  std::vector<const ExpertPlacement*> seen;
  for (const auto& p : params_->all()) {
    if (!p->trainable || p->expert_id < 0) continue;
    const ExpertPlacement* placement = placement_of(*p);
    if (placement) {
      SADARI_CHECK(placement->ranks() == groups.layout.ep, "expert placement of ", p->name,
                   " is over ", placement->ranks(), " ranks, but ep = ", groups.layout.ep);
      if (std::find(seen.begin(), seen.end(), placement) == seen.end()) {
        seen.push_back(placement);
        for (int64_t e = 0; e < placement->experts(); ++e)
          if (holders_of(placement, e).size() > 1) holder_sets[holders_of(placement, e)] = true;
      }
    }
    const std::vector<int> holders = holders_of(placement, p->expert_id);
    if (holders.size() <= 1)
      experts.push_back(p.get());
    else
      replicated[holders].push_back(p.get());
  }
  add_group("experts", *groups.edp, experts, bucket_elements_);

  // Replicated experts: one group per holder set, in the same (sorted) order on
  // every rank; every dp rank takes part in every split.
  for (const auto& [holders, unused] : holder_sets) {
    const bool member =
        std::find(holders.begin(), holders.end(), groups.coords.ep) != holders.end();
    const std::string what = "experts replicated on ep ranks " + describe_ranks(holders);
    replica_comms_.push_back(groups.dp->split(member ? 0 : 1, groups.dp->rank(), "edp-replicas"));
    if (!member) continue;
    std::vector<Parameter*> ps = replicated[holders];
    std::sort(ps.begin(), ps.end(),
              [](const Parameter* a, const Parameter* b) { return a->name < b->name; });
    add_group(what, *replica_comms_.back(), ps, bucket_elements_);
  }
}

DistributedOptimizer::MomentsOf DistributedOptimizer::expert_moments() {
  MomentsOf out;
  // groups_[0] is the dense group; every later one holds routed experts.
  for (size_t gi = 1; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    const ParamBuckets& b = *g.buckets;
    std::vector<float> m, v;
    if (zero_stage_ == 1) g.sharded->gather_moments(m, v);
    for (size_t i = 0; i < b.params().size(); ++i) {
      const Parameter* p = b.params()[i];
      const size_t n = static_cast<size_t>(p->numel());
      Moments& dst = out[p];
      if (zero_stage_ == 1) {
        const auto at = static_cast<std::ptrdiff_t>(b.offset_of(i));
        dst.m.assign(m.begin() + at, m.begin() + at + static_cast<std::ptrdiff_t>(n));
        dst.v.assign(v.begin() + at, v.begin() + at + static_cast<std::ptrdiff_t>(n));
      } else {
        const auto [pm, pv] = replicated_->moments_of(p);
        SADARI_ASSERT(pm && pv);
        dst.m.assign(pm, pm + n);
        dst.v.assign(pv, pv + n);
      }
    }
  }
  return out;
}

void DistributedOptimizer::rebuild_expert_groups(const PlacementOf& placement_of,
                                                 const MomentsOf& moments) {
  groups_.erase(groups_.begin() + 1, groups_.end());
  replica_comms_.clear();
  add_expert_groups(placement_of);
  auto moments_for = [&](const Parameter* p) -> const Moments& {
    const auto it = moments.find(p);
    if (it == moments.end() || static_cast<int64_t>(it->second.m.size()) != p->numel() ||
        static_cast<int64_t>(it->second.v.size()) != p->numel())
      fail("no optimizer state given for the moved expert parameter", "parameter " + p->name,
           "this is a bug in the expert migration");
    return it->second;
  };
  for (size_t gi = 1; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    const ParamBuckets& b = *g.buckets;
    if (zero_stage_ == 1) {
      std::vector<float> m(static_cast<size_t>(b.size()), 0.0f), v(m.size(), 0.0f);
      for (size_t i = 0; i < b.params().size(); ++i) {
        const Moments& src = moments_for(b.params()[i]);
        std::copy(src.m.begin(), src.m.end(), m.begin() + b.offset_of(i));
        std::copy(src.v.begin(), src.v.end(), v.begin() + b.offset_of(i));
      }
      g.sharded->restore(steps_, m.data(), v.data());
    } else {
      for (const Parameter* p : b.params()) {
        const Moments& src = moments_for(p);
        const auto [pm, pv] = replicated_->moments_of(p);
        SADARI_ASSERT(pm && pv);
        std::copy(src.m.begin(), src.m.end(), pm);
        std::copy(src.v.begin(), src.v.end(), pv);
      }
    }
  }
}

void DistributedOptimizer::add_group(std::string what, Communicator& comm,
                                     std::vector<Parameter*> params, int64_t bucket_elements) {
  ParamGroup g;
  g.what = std::move(what);
  g.comm = &comm;
  g.buckets = std::make_unique<ParamBuckets>(std::move(params), comm.size(), bucket_elements);
  g.sync = std::make_unique<GradientSync>(
      *g.buckets, comm,
      zero_stage_ == 0 ? GradientSync::Mode::all_reduce : GradientSync::Mode::reduce_scatter, ctx_);
  if (zero_stage_ == 1) g.sharded = std::make_unique<ShardedAdamW>(cfg_, *g.buckets, comm, ctx_);
  groups_.push_back(std::move(g));
}

int64_t DistributedOptimizer::reduced_elements() const {
  int64_t n = 0;
  for (const auto& g : groups_) n += g.buckets->size();
  return n;
}

void DistributedOptimizer::reduce_gradients() {
  for (auto& g : groups_) g.sync->reduce();
}

double DistributedOptimizer::global_grad_norm() const {
  double sum_squares = 0;
  for (const auto& g : groups_) sum_squares += g.sync->owned_sum_squares();
  process_groups_->dp->all_reduce(&sum_squares, 1, ReduceOp::sum);
  // Pipeline stages hold disjoint parameters: the norm covers all of them.
  if (process_groups_->pp && process_groups_->pp->size() > 1) {
    process_groups_->pp->all_reduce(&sum_squares, 1, ReduceOp::sum);
    sum_squares /= static_cast<double>(pipeline_copies_);
  }
  return std::sqrt(sum_squares);
}

double DistributedOptimizer::step(double lr) {
  reduce_gradients();
  return update(lr);
}

double DistributedOptimizer::update(double lr) {
  ProfileScope scope(ProfileCategory::optimizer);
  const double norm = global_grad_norm();
  if (cfg_.grad_clip > 0 && norm > cfg_.grad_clip) {
    // The same factor, in the same precision, as one-process clip_gradients.
    const float factor = static_cast<float>(cfg_.grad_clip / (norm + 1e-12));
    for (auto& g : groups_) g.sync->scale(factor);
  }
  ++steps_;
  if (zero_stage_ == 0) {
    replicated_->step(lr);
  } else {
    for (auto& g : groups_) g.sharded->step(lr, g.sync->grad_shard());
  }
  return norm;
}

std::pair<float*, float*> DistributedOptimizer::replicated_moments(const Parameter* p) {
  if (!replicated_) return {nullptr, nullptr};
  return replicated_->moments_of(p);
}

void DistributedOptimizer::restore_steps(int64_t steps) {
  steps_ = steps;
  if (replicated_) replicated_->restore_steps(steps);
}

}  // namespace sadari
