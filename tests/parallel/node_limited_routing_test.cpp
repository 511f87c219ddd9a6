// Node-limited routing (DeepSeek-V3): the router's selection against a serial
// reference, "off" leaving routing unchanged, the validation errors, and the
// node map the expert-parallel dispatcher hands to the router.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "comm/self_communicator.h"
#include "core/error.h"
#include "model/router.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "tests/parallel/ep_test_util.h"

namespace sadari {
namespace {

// Serial reference of the selection (router.h): node score = sum of the q =
// max(1, K/M) largest biased affinities of the node (in descending order), the M
// best nodes (ties: lower node), then the K best experts among theirs (ties:
// lower expert).
template <typename T>
std::vector<int32_t> reference_selection(const T* b, int64_t E, int64_t K, int64_t M,
                                         const std::vector<int32_t>& node) {
  const int64_t N = *std::max_element(node.begin(), node.end()) + 1;
  const int64_t q = std::max<int64_t>(1, K / M);
  std::vector<T> score(static_cast<size_t>(N), T(0));
  for (int64_t g = 0; g < N; ++g) {
    std::vector<T> v;
    for (int64_t e = 0; e < E; ++e)
      if (node[e] == g) v.push_back(b[e]);
    std::sort(v.begin(), v.end(), std::greater<T>());
    for (int64_t i = 0; i < std::min<int64_t>(q, v.size()); ++i) score[g] += v[i];
  }
  std::vector<int64_t> nodes(static_cast<size_t>(N));
  std::iota(nodes.begin(), nodes.end(), 0);
  std::stable_sort(nodes.begin(), nodes.end(),
                   [&](int64_t a, int64_t c) { return score[a] > score[c]; });
  const std::set<int64_t> kept(nodes.begin(), nodes.begin() + M);
  std::vector<int64_t> cand;
  for (int64_t e = 0; e < E; ++e)
    if (kept.count(node[e])) cand.push_back(e);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t c) { return b[a] > b[c]; });
  return std::vector<int32_t>(cand.begin(), cand.begin() + K);
}

struct NodeCase {
  const char* name;
  const char* score_func;
  int64_t E, K, M;
  std::vector<int32_t> node;  // expert -> node
};

template <typename T>
void check_case(const NodeCase& c) {
  const int64_t n = 40;
  RouterOptions o;
  o.experts = c.E;
  o.top_k = c.K;
  o.score_func = std::string(c.score_func) == "sigmoid" ? ScoreFunc::sigmoid : ScoreFunc::softmax;
  o.expert_node = c.node;
  o.max_nodes = c.M;
  Router<T> router(o);
  ASSERT_TRUE(o.node_limited());
  const auto logits = ep_test::random_values<T>(n * c.E, 11, 2.0);
  const auto bias = ep_test::random_values<T>(c.E, 12, 0.1);
  RouterCache<T> cache, unlimited;
  router.route_logits(logits.data(), bias.data(), n, cache);
  RouterOptions plain = o;
  plain.max_nodes = 0;
  Router<T>(plain).route_logits(logits.data(), bias.data(), n, unlimited);
  // The limit must matter for some tokens, or this test could not fail.
  EXPECT_FALSE(
      std::equal(cache.expert.begin(), cache.expert.begin() + n * c.K, unlimited.expert.begin()))
      << c.name;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<T> b(static_cast<size_t>(c.E));
    for (int64_t e = 0; e < c.E; ++e) b[e] = cache.scores[t * c.E + e] + bias[e];
    const auto want = reference_selection(b.data(), c.E, c.K, c.M, c.node);
    const std::vector<int32_t> got(cache.expert.begin() + t * c.K,
                                   cache.expert.begin() + (t + 1) * c.K);
    EXPECT_EQ(got, want) << c.name << " token " << t;
    std::set<int32_t> used;
    for (int32_t e : got) used.insert(c.node[e]);
    EXPECT_LE(static_cast<int64_t>(used.size()), c.M) << c.name << " token " << t;
  }
}

const std::vector<NodeCase>& cases() {
  static const std::vector<NodeCase> all = {
      // DeepSeek-V3 shape in small: 4 nodes of 4 experts, K = 4 on M = 2 (q = 2).
      {"sigmoid_4nodes_M2", "sigmoid", 16, 4, 2, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}},
      // One node per token, softmax, K = 3 (q = 3).
      {"softmax_M1", "softmax", 12, 3, 1, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}},
      // Non-contiguous map, uneven nodes (3, 3, 2, 2 experts), K = 4 on M = 2.
      {"sigmoid_scattered", "sigmoid", 10, 4, 2, {3, 0, 2, 1, 0, 3, 1, 2, 0, 1}},
  };
  return all;
}

TEST(NodeLimitedRouting, MatchesSerialReferenceFloat) {
  for (const NodeCase& c : cases()) check_case<float>(c);
}
TEST(NodeLimitedRouting, MatchesSerialReferenceDouble) {
  for (const NodeCase& c : cases()) check_case<double>(c);
}

// M = 0 or M >= the number of nodes: bit-identical to plain routing.
TEST(NodeLimitedRouting, OffLeavesRoutingUnchanged) {
  const int64_t n = 30, E = 8, K = 2;
  RouterOptions plain;
  plain.experts = E;
  plain.top_k = K;
  plain.score_func = ScoreFunc::sigmoid;
  const auto logits = ep_test::random_values<float>(n * E, 21, 2.0);
  RouterCache<float> base;
  Router<float>(plain).route_logits(logits.data(), nullptr, n, base);
  for (int64_t M : {0, 2, 3}) {
    RouterOptions o = plain;
    o.expert_node = {0, 0, 0, 0, 1, 1, 1, 1};
    o.max_nodes = M;
    EXPECT_FALSE(o.node_limited());
    RouterCache<float> c;
    Router<float>(o).route_logits(logits.data(), nullptr, n, c);
    EXPECT_TRUE(std::equal(c.expert.begin(), c.expert.begin() + n * K, base.expert.begin()));
    EXPECT_EQ(std::memcmp(c.weight.data(), base.weight.data(), sizeof(float) * n * K), 0);
  }
}

TEST(NodeLimitedRouting, ValidationNamesTheKey) {
  RouterOptions o;
  o.experts = 8;
  o.top_k = 4;
  o.expert_node = {0, 0, 0, 1, 1, 1, 2, 2};
  o.max_nodes = 1;  // the smallest node holds 2 < 4 experts
  try {
    o.validate();
    ADD_FAILURE() << "top_k larger than M nodes can hold must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parallel.max_nodes_per_token"), std::string::npos);
  }
  o.top_k = 2;
  EXPECT_NO_THROW(o.validate());
  o.n_groups = 4;
  o.topk_groups = 2;
  try {
    o.validate();
    ADD_FAILURE() << "group- and node-limited routing at once must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("both on"), std::string::npos) << e.what();
  }
  o.n_groups = 1;
  o.topk_groups = 1;
  o.expert_node = {0, 1};  // wrong size
  EXPECT_THROW(o.validate(), Error);
}

TEST(NodeLimitedRouting, DispatcherReportsNodesAndNeedsRanksPerNode) {
  SelfCommunicator ep("ep");
  ParallelConfig opts;
  ExpertParallelDispatcher<float> off(ep, ExpertPlacement::identity(4, 1), opts);
  EXPECT_EQ(off.max_nodes_per_token(), 0);
  EXPECT_TRUE(off.expert_nodes().empty());
  opts.max_nodes_per_token = 1;
  try {
    ExpertParallelDispatcher<float> d(ep, ExpertPlacement::identity(4, 1), opts);
    ADD_FAILURE() << "ranks_per_node 0 must be rejected with node-limited routing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parallel.ranks_per_node"), std::string::npos);
  }
  opts.ranks_per_node = 8;
  ExpertParallelDispatcher<float> on(ep, ExpertPlacement::identity(4, 1), opts);
  EXPECT_EQ(on.max_nodes_per_token(), 1);
  EXPECT_EQ(on.expert_nodes(), (std::vector<int32_t>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace sadari
