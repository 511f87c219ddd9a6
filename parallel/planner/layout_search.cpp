#include "parallel/planner/layout_search.h"

#include <algorithm>
#include <cstdio>
#include <exception>

#include "core/error.h"

namespace sadari {

namespace {

using detail::cat;

std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> small, large;
  for (int64_t d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    small.push_back(d);
    if (d != n / d) large.push_back(n / d);
  }
  small.insert(small.end(), large.rbegin(), large.rend());
  return small;
}

// Model chunks a rank holds under `schedule` (the rule validate_config enforces).
int64_t chunks_for(const std::string& schedule) {
  return schedule == "interleaved" || schedule == "dualpipe" || schedule == "dualpipev" ? 2 : 1;
}

// Pipeline stages the layers are split into (ParallelConfig::pipeline_stages).
int64_t stages_for(int64_t pp, const std::string& schedule) {
  return schedule == "dualpipe" ? pp : pp * chunks_for(schedule);
}

// Bytes as GB with one decimal, for messages.
std::string gb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes / 1e9);
  return buf;
}

}  // namespace

const std::vector<std::string>& pipeline_schedule_names() {
  static const std::vector<std::string> names = {"gpipe", "1f1b",     "interleaved",
                                                 "zb-h1", "dualpipe", "dualpipev"};
  return names;
}

bool ranks_before(const Estimate& a, const Estimate& b) {
  if (a.time.step != b.time.step) return a.time.step < b.time.step;
  const double ma = a.memory.total(), mb = b.memory.total();
  if (ma != mb) return ma < mb;
  return a.layout.describe() < b.layout.describe();
}

std::vector<Layout> enumerate_layouts(const ModelConfig& model, const Workload& work, int64_t gpus,
                                      bool allow_recompute) {
  SADARI_ASSERT(gpus >= 1);
  std::vector<Layout> out;
  const bool has_moe = model.layers > model.first_dense_layers;
  for (int64_t pp : divisors(gpus)) {
    if (pp > model.layers) break;  // divisors come in ascending order
    const int64_t dp = gpus / pp;
    if (work.global_batch % dp != 0) continue;
    const int64_t per_replica = work.global_batch / dp;
    std::vector<std::string> schedules = {"1f1b"};
    if (pp > 1) {
      schedules.clear();
      for (const auto& s : pipeline_schedule_names()) {
        if (stages_for(pp, s) > model.layers) continue;
        if (s == "dualpipe" && pp % 2 != 0) continue;
        schedules.push_back(s);
      }
    }
    for (int64_t ep : divisors(dp)) {
      if (model.experts % ep != 0) continue;
      if (!has_moe && ep > 1) break;
      for (int64_t mb : divisors(per_replica)) {
        for (const auto& schedule : schedules) {
          for (int64_t zero : {0, 1}) {
            for (bool recompute : {false, true}) {
              if (recompute && !allow_recompute) continue;
              Layout l;
              l.pp = pp;
              l.dp = dp;
              l.ep = ep;
              l.micro_batch = mb;
              l.microbatches = per_replica / mb;
              l.schedule = schedule;
              l.chunks = chunks_for(schedule);
              l.zero_stage = zero;
              l.recompute = recompute;
              out.push_back(std::move(l));
            }
          }
        }
      }
    }
  }
  return out;
}

SearchResult search_layouts(const ModelConfig& model, const ClusterSpec& cluster,
                            const Workload& work, const SearchOptions& options) {
  SearchResult r;
  r.gpus = options.gpus ? options.gpus : cluster.gpus();
  if (r.gpus < 1 || r.gpus > cluster.gpus())
    fail(cat("cannot plan for ", r.gpus, " GPUs on cluster ", cluster.name, " of ", cluster.gpus(),
             " GPUs (", cluster.nodes, " nodes x ", cluster.gpus_per_node, ")"),
         cluster.source_file.empty() ? cluster.name : cluster.source_file,
         cat("plan for 1 to ", cluster.gpus(), " GPUs, or describe a larger cluster"));
  if (work.global_batch < 1 || work.seq_len < 1)
    fail(cat("global batch ", work.global_batch, " x seq_len ", work.seq_len, " is empty"),
         "workload", "both must be >= 1");

  const std::vector<Layout> candidates =
      enumerate_layouts(model, work, r.gpus, options.allow_recompute);
  r.enumerated = static_cast<int64_t>(candidates.size());
  // Candidates are independent (estimate() is pure and its caches are locked), so
  // they are checked and estimated in parallel; the results are then reduced in
  // candidate order, which keeps the outcome independent of the thread count.
  const int64_t n = r.enumerated;
  std::vector<std::optional<Estimate>> estimates(static_cast<size_t>(n));
  std::vector<std::string> problems(static_cast<size_t>(n));
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const Layout& layout = candidates[static_cast<size_t>(i)];
      std::string problem = layout_problem(model, cluster, work, layout);
      if (problem.empty() && options.extra_problem) problem = options.extra_problem(layout);
      if (problem.empty()) estimates[static_cast<size_t>(i)] = estimate(model, cluster, work, layout);
      else problems[static_cast<size_t>(i)] = std::move(problem);
    } catch (...) {  // an exception must not leave an OpenMP region
#pragma omp critical(sadari_layout_search)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);

  std::vector<Estimate> fitting;
  for (int64_t i = 0; i < n; ++i) {
    std::optional<Estimate>& e = estimates[static_cast<size_t>(i)];
    if (!e) {
      ++r.rejected;
      if (r.first_rejection.empty())
        r.first_rejection = cat(candidates[static_cast<size_t>(i)].describe(), ": ",
                                problems[static_cast<size_t>(i)]);
      continue;
    }
    ++r.estimated;
    if (e->fits) {
      fitting.push_back(std::move(*e));
    } else if (!r.closest || e->memory_overshoot < r.closest->memory_overshoot ||
               (e->memory_overshoot == r.closest->memory_overshoot && ranks_before(*e, *r.closest))) {
      r.closest = std::move(*e);
    }
  }
  r.fitting = static_cast<int64_t>(fitting.size());
  const size_t keep = std::min(fitting.size(), static_cast<size_t>(std::max<int64_t>(options.top, 1)));
  std::partial_sort(fitting.begin(), fitting.begin() + static_cast<std::ptrdiff_t>(keep),
                    fitting.end(), ranks_before);
  fitting.resize(keep);
  r.best = std::move(fitting);
  return r;
}

const Estimate& best_plan(const SearchResult& result, const ModelConfig& model,
                          const ClusterSpec& cluster, const Workload& work) {
  if (!result.best.empty()) return result.best.front();
  const std::string where = cat(model.name, " on ", cluster.name, " (", result.gpus, " GPUs)");
  if (result.closest) {
    const Estimate& c = *result.closest;
    fail(cat("no plan fits: all ", result.estimated, " valid layouts need more than the ",
             cluster.gpu.memory_gb, " GB of a ", cluster.gpu.model, "; the closest, ",
             c.layout.describe(), ", needs ", gb(c.memory.total()), " GB (", gb(c.memory_overshoot),
             " GB over)"),
         where,
         "use more GPUs or GPUs with more memory, a smaller global batch or sequence length, "
         "or a smaller model");
  }
  fail(cat("no valid layout: ", result.enumerated, " candidates for global batch ", work.global_batch,
           " on ", result.gpus, " GPUs",
           result.first_rejection.empty() ? std::string(", none generated")
                                          : cat(", all rejected (e.g. ", result.first_rejection, ")")),
       where,
       cat("dp = GPUs / pp must divide the global batch and pp <= layers (", model.layers,
           "): choose a global batch that is a multiple of the GPU count, or fewer GPUs"));
}

}  // namespace sadari
