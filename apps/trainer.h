// One training run over the processes of a job (one process or mpirun -np N):
// data, model, optimizer, the step loop, validation, progress and the run
// directory.
//
// Layout: world = pp x dp ranks (comm/process_groups.h), each dp rank reads its
// own slice of every step's global batch (train.global_batch sequences per step
// whatever dp is; the slice of dp rank d is the samples
// [step*G + d*G/dp, step*G + (d+1)*G/dp) of the same global order the
// one-process run uses), in micro-batches of train.micro_batch. Experts are
// spread over the ep group (parallel/expert_parallel_dispatcher.h, identity
// placement). Gradients of each rank's loss, scaled by 1 / (tokens of the GLOBAL
// batch), are summed over dp (dense) and edp (experts) and the optimizer is
// ZeRO-1 sharded or replicated (parallel.zero_stage), see
// parallel/distributed_optimizer.h. Router load counts are summed over dp before
// the bias update, so every rank keeps identical weights and biases. Every
// layout therefore computes the one-process run, step for step, up to the order
// of floating-point sums (tests/parity checks 1e-5 relative).
//
// Pipeline (pp > 1): the layers are split into stages (parallel/stage_partition.h:
// cost-balanced, or parallel.stage_layers), each pp rank builds the stages of its
// chunks (model/transformer_stage.h) and runs its action list of
// parallel.schedule over its dp slice's micro-batches (parallel/pipeline_executor.h;
// M = global_batch / (micro_batch x dp) micro-batches per step). The loss is
// computed on the last stage; loss and aux-loss sums are reduced over dp and then
// pp, so every rank, world rank 0 included, reports the global numbers. The
// gradient norm covers all stages (DistributedOptimizer). DualPipe holds every
// stage on two ranks and sums the copies' gradients and load counts
// (parallel/stage_copies.h). Validation sends each batch through the stages in
// order.
//
// Errors: check_trainable() runs first and does no communication, so a bad
// config fails identically on every rank (the caller prints it once). train()
// also reads the data before its first collective. An Error after that point is
// rethrown as RankFailure: peers may be waiting in a collective, so the caller
// must end the whole job (abort_job) rather than return.
//
// Output: only world rank 0 prints progress and writes the run directory
// (logging.run_dir): config.yaml (the resolved config, written atomically before
// the first step) and metrics.jsonl. Losses in them are over the global batch.
// Every rank returns the same TrainResult.
//
// COLLECTIVE over `world`: every rank calls train() with the same config.
#pragma once

#include <optional>
#include <vector>

#include "comm/communicator.h"
#include "core/config.h"
#include "core/error.h"

namespace sadari {

struct TrainResult {
  std::vector<double> losses;                          // mean train CE per step (global batch)
  std::vector<std::pair<int64_t, double>> val_losses;  // (step, validation CE)
  double final_val_loss = 0;
  std::optional<double> entropy_floor;                 // synthetic data: the loss floor
  double tokens_per_s = 0;                             // over the whole run, all ranks
  double model_gflops = 0;                             // achieved, over the whole run
};

// An Error on one rank after the ranks started communicating.
class RankFailure : public Error {
 public:
  explicit RankFailure(const Error& e) : Error(e) {}
};

// Checks that this build can train `cfg` on `world_size` processes: the layout
// matches the world size (pp x dp = world_size, ep divides dp), the pipeline
// schedule can run the step's micro-batch count (pp > 1), MHA attention.
// Throws Error naming the config key. No communication.
void check_trainable(const Config& cfg, int world_size);

// Trains per `cfg` (already validated by load_config) over `world`.
// Throws Error on bad input found before communication (data files, vocabulary,
// layouts this build cannot run), RankFailure for errors after it.
TrainResult train(const Config& cfg, Communicator& world);

// One process, no MPI (a SelfCommunicator as the world): what tests use.
TrainResult train(const Config& cfg);

}  // namespace sadari
