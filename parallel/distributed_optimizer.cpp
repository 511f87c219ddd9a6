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
                                           const ExpertPlacement* placement)
    : cfg_(optim), zero_stage_(static_cast<int>(parallel.zero_stage)), process_groups_(&groups) {
  SADARI_CHECK(zero_stage_ == 0 || zero_stage_ == 1, "zero_stage ", zero_stage_,
               " is not supported (use 0 or 1)");
  SADARI_CHECK(params.dtype() == DType::f32, "the distributed optimizer needs f32 parameters");
  if (placement)
    SADARI_CHECK(placement->ranks() == groups.layout.ep, "expert placement over ",
                 placement->ranks(), " ranks, but ep = ", groups.layout.ep);

  // The ep indices holding each logical expert (one, unless replicated).
  auto holders_of = [&](int64_t expert) {
    std::vector<int> ranks;
    if (!placement) return ranks;
    for (const auto& r : placement->replicas(expert)) ranks.push_back(r.rank);
    std::sort(ranks.begin(), ranks.end());
    return ranks;
  };
  std::vector<Parameter*> dense, experts;
  std::map<std::vector<int>, std::vector<Parameter*>> replicated;  // holder set -> params here
  for (const auto& p : params.all()) {
    if (!p->trainable) continue;
    if (p->expert_id < 0) {
      dense.push_back(p.get());
      continue;
    }
    const std::vector<int> holders = holders_of(p->expert_id);
    if (holders.size() <= 1)
      experts.push_back(p.get());
    else
      replicated[holders].push_back(p.get());
  }
  const int64_t bucket_elements =
      std::max<int64_t>(1, static_cast<int64_t>(parallel.bucket_mb * 1024.0 * 1024.0 / 4.0));
  add_group("dense", *groups.dp, dense, bucket_elements);
  add_group("experts", *groups.edp, experts, bucket_elements);

  // Replicated experts: one group per holder set, in the same (sorted) order on
  // every rank; every dp rank takes part in every split.
  if (placement && placement->has_replicas()) {
    std::map<std::vector<int>, bool> holder_sets;
    for (int64_t e = 0; e < placement->experts(); ++e)
      if (holders_of(e).size() > 1) holder_sets[holders_of(e)] = true;
    for (const auto& [holders, unused] : holder_sets) {
      const bool member =
          std::find(holders.begin(), holders.end(), groups.coords.ep) != holders.end();
      const std::string what = "experts replicated on ep ranks " + describe_ranks(holders);
      replica_comms_.push_back(groups.dp->split(member ? 0 : 1, groups.dp->rank(), "edp-replicas"));
      if (!member) continue;
      std::vector<Parameter*> ps = replicated[holders];
      std::sort(ps.begin(), ps.end(),
                [](const Parameter* a, const Parameter* b) { return a->name < b->name; });
      add_group(what, *replica_comms_.back(), ps, bucket_elements);
    }
  }
  if (zero_stage_ == 0) replicated_ = std::make_unique<AdamW>(optim, params);
}

void DistributedOptimizer::add_group(std::string what, Communicator& comm,
                                     std::vector<Parameter*> params, int64_t bucket_elements) {
  ParamGroup g;
  g.what = std::move(what);
  g.comm = &comm;
  g.buckets = std::make_unique<ParamBuckets>(std::move(params), comm.size(), bucket_elements);
  g.sync = std::make_unique<GradientSync>(
      *g.buckets, comm,
      zero_stage_ == 0 ? GradientSync::Mode::all_reduce : GradientSync::Mode::reduce_scatter);
  if (zero_stage_ == 1) g.sharded = std::make_unique<ShardedAdamW>(cfg_, *g.buckets, comm);
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
  if (zero_stage_ == 0) {
    replicated_->step(lr);
  } else {
    for (auto& g : groups_) g.sharded->step(lr, g.sync->grad_shard());
  }
  return norm;
}

}  // namespace sadari
