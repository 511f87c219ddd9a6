#include "parallel/stage_partition.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace sadari {

double block_cost(const ModelConfig& m, int64_t layer, int64_t seq) {
  const double D = static_cast<double>(m.hidden);
  const double head_dim = static_cast<double>(m.head_dim ? m.head_dim : m.hidden / m.heads);
  const double width = static_cast<double>(m.heads) * head_dim;  // query/key/value width
  // q, k, v, o projections, then scores and weighted values over on average
  // seq / 2 earlier positions (causal).
  const double attention =
      2.0 * 4.0 * D * width + 2.0 * 2.0 * width * static_cast<double>(seq) / 2.0;
  double ffn = 0;
  if (layer < m.first_dense_layers) {
    ffn = 2.0 * 3.0 * D * static_cast<double>(m.dense_ffn_hidden);
  } else {
    // Router scores, then top_k routed and the shared experts' SwiGLUs.
    ffn = 2.0 * D * static_cast<double>(m.experts) +
          2.0 * 3.0 * D * static_cast<double>(m.moe_ffn_hidden) *
              static_cast<double>(m.top_k + m.shared_experts);
  }
  return attention + ffn;
}

double embedding_cost(const ModelConfig& m) {
  return static_cast<double>(m.hidden);  // one row copied per token
}

double head_cost(const ModelConfig& m) {
  // Final norm, the [V, D] head GEMM, and softmax cross-entropy over V.
  return 4.0 * static_cast<double>(m.hidden) +
         2.0 * static_cast<double>(m.hidden) * static_cast<double>(m.vocab_size) +
         4.0 * static_cast<double>(m.vocab_size);
}

double stage_cost(const ModelConfig& m, const StageLayers& s, int64_t seq) {
  double cost = 0;
  for (int64_t l = s.first; l < s.end(); ++l) cost += block_cost(m, l, seq);
  if (s.has_embedding) cost += embedding_cost(m);
  if (s.has_head) cost += head_cost(m);
  return cost;
}

namespace {

std::vector<StageLayers> from_boundaries(const std::vector<int64_t>& counts) {
  std::vector<StageLayers> stages(counts.size());
  int64_t first = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    stages[s].first = first;
    stages[s].count = counts[s];
    first += counts[s];
  }
  stages.front().has_embedding = true;
  stages.back().has_head = true;
  return stages;
}

}  // namespace

std::vector<StageLayers> balanced_stages(const ModelConfig& m, int64_t stages, int64_t seq) {
  const int64_t L = m.layers;
  if (stages < 1 || stages > L)
    fail(detail::cat(stages, " pipeline stages for ", L, " layers"), "parallel.pp",
         "each pipeline stage needs at least one layer: use at most model.layers stages");
  // prefix[l]: cost of blocks [0, l); stage cost of blocks [a, b) is prefix[b] - prefix[a]
  // plus the embedding (a == 0) and the head (b == L).
  std::vector<double> prefix(static_cast<size_t>(L + 1), 0.0);
  for (int64_t l = 0; l < L; ++l) prefix[l + 1] = prefix[l] + block_cost(m, l, seq);
  auto cost = [&](int64_t a, int64_t b) {
    return prefix[b] - prefix[a] + (a == 0 ? embedding_cost(m) : 0.0) +
           (b == L ? head_cost(m) : 0.0);
  };
  // best[s][b]: the smallest possible largest stage cost when blocks [0, b) form
  // s stages; cut[s][b]: where the last of those stages starts.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const size_t S = static_cast<size_t>(stages);
  std::vector<std::vector<double>> best(S + 1, std::vector<double>(static_cast<size_t>(L + 1), kInf));
  std::vector<std::vector<int64_t>> cut(S + 1, std::vector<int64_t>(static_cast<size_t>(L + 1), 0));
  best[0][0] = 0;
  for (size_t s = 1; s <= S; ++s)
    for (int64_t b = static_cast<int64_t>(s); b <= L; ++b)
      for (int64_t a = static_cast<int64_t>(s) - 1; a < b; ++a) {
        if (best[s - 1][a] == kInf) continue;
        const double worst = std::max(best[s - 1][a], cost(a, b));
        // Strictly better only: among equal splits the earliest cut (a) wins.
        if (worst < best[s][b]) {
          best[s][b] = worst;
          cut[s][b] = a;
        }
      }
  std::vector<int64_t> counts(S);
  for (int64_t s = stages, b = L; s > 0; --s) {
    const int64_t a = cut[s][b];
    counts[s - 1] = b - a;
    b = a;
  }
  return from_boundaries(counts);
}

std::vector<StageLayers> stages_from_counts(const std::vector<int64_t>& counts, int64_t layers) {
  SADARI_CHECK(!counts.empty(), "no pipeline stages given");
  int64_t total = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    if (counts[s] < 1)
      fail(detail::cat("stage ", s, " gets no layer"), "parallel.stage_layers",
           "every pipeline stage needs at least one layer");
    total += counts[s];
  }
  if (total != layers)
    fail(detail::cat("stage_layers covers ", total, " layers, but the model has ", layers),
         "parallel.stage_layers", "make the counts sum to model.layers");
  return from_boundaries(counts);
}

std::vector<StageLayers> partition_stages(const Config& cfg) {
  const std::vector<int64_t> counts = cfg.parallel.stage_layer_counts();
  if (!counts.empty()) {
    if (static_cast<int64_t>(counts.size()) != cfg.parallel.pipeline_stages())
      fail(detail::cat("stage_layers lists ", counts.size(), " stages, but the pipeline has ",
                       cfg.parallel.pipeline_stages()),
           cfg.where("parallel.stage_layers"), "give one layer count per pipeline stage");
    try {
      return stages_from_counts(counts, cfg.model.layers);
    } catch (const Error& e) {
      fail(e.what_failed(), cfg.where("parallel.stage_layers"), e.hint());
    }
  }
  return balanced_stages(cfg.model, cfg.parallel.pipeline_stages(), cfg.train.seq_len);
}

}  // namespace sadari
