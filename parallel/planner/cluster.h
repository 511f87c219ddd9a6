// A cluster description: what the planner knows about the machines a job runs on.
//
// Loaded from YAML (configs/clusters/*.yaml; every figure there carries its source
// in a comment). All figures are per GPU (or, for a CPU box, per process slot)
// unless named otherwise. Units: TFLOP/s (dense, no sparsity), GB = 1e9 bytes,
// GB/s = 1e9 bytes per second, microseconds.
//
// Errors: load_cluster throws Error naming "file:line key" for a missing file,
// malformed YAML, an unknown key (with a suggestion), a wrong type or a value out
// of range (every count >= 1, every rate > 0, efficiencies in (0, 1]).
#pragma once

#include <cstdint>
#include <string>

namespace sadari {

struct AcceleratorSpec {
  std::string model = "H800";     // "H800", "H100 SXM", "H200 SXM", "CPU core"...
  std::string kind = "gpu";       // gpu | cpu
  double bf16_tflops = 989;       // dense BF16 tensor-core peak (f32 peak on a cpu)
  double fp8_tflops = 1979;       // dense FP8 peak (0: no FP8 units)
  double memory_gb = 80;          // HBM (RAM share per process on a cpu)
  double memory_bandwidth_gbs = 3350;
};

struct InterconnectSpec {
  double bandwidth_gbs = 0;  // per GPU, one direction, achievable
  double latency_us = 0;     // one message, small
};

// Fractions of peak the cost model assumes (stated, not measured per job).
struct EfficiencySpec {
  double gemm = 0.6;       // large GEMMs, fraction of the precision's peak
  double attention = 0.4;  // attention math (scores, softmax, weighted sum)
  double network = 0.8;    // achieved / nominal bandwidth for bulk transfers
  // Share of compute throughput left while communication kernels run beside it
  // (overlapped schedules): DeepSeek-V3 gives 20 of the H800's 132 SMs to the
  // all-to-all, 112 / 132 = 0.85. 1: communication takes no compute resources.
  double compute_under_overlap = 1.0;
};

struct ClusterSpec {
  std::string name;
  std::string source_file;          // where it was loaded from (for messages)
  int64_t nodes = 1;
  int64_t gpus_per_node = 8;        // processes per node on a cpu box
  AcceleratorSpec gpu;
  InterconnectSpec intra_node;      // NVLink / NVSwitch (shared memory on a cpu box)
  InterconnectSpec inter_node;      // InfiniBand / RoCE per GPU
  EfficiencySpec efficiency;
  // Memory a process uses that the model does not explain (CUDA context, NCCL
  // and allocator reserves; on a cpu: MPI, OpenBLAS and library pages), GB.
  double runtime_overhead_gb = 0;

  int64_t gpus() const { return nodes * gpus_per_node; }
};

// Reads a cluster YAML file. Throws Error (see the header comment).
ClusterSpec load_cluster(const std::string& path);

}  // namespace sadari
