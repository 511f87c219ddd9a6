// tests/layering: links sadari_planner alone (every object of it, see
// CMakeLists.txt) and plans a config on a cluster file, so that planner code
// which calls into the model or the runtime fails to link here.
//   layering_planner_probe CONFIG CLUSTER
#include <cstdio>

#include "core/config_load.h"
#include "core/error.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/layout_search.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: layering_planner_probe CONFIG CLUSTER\n");
    return 2;
  }
  try {
    const sadari::Config cfg = sadari::load_config(argv[1]);
    const sadari::ClusterSpec cluster = sadari::load_cluster(argv[2]);
    sadari::Workload work;
    work.global_batch = cfg.train.global_batch;
    work.seq_len = cfg.train.seq_len;
    work.precision = "f32";
    sadari::SearchOptions options;
    options.gpus = 1;
    const sadari::SearchResult result = sadari::search_layouts(cfg.model, cluster, work, options);
    std::printf("%lld layouts estimated, %lld fit\n", static_cast<long long>(result.estimated),
                static_cast<long long>(result.fitting));
    return result.estimated > 0 ? 0 : 1;
  } catch (const sadari::Error& e) {
    std::fprintf(stderr, "layering_planner_probe: %s\n", e.what());
    return 1;
  }
}
