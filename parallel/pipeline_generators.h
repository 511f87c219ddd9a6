// Generators of pipeline schedules (pipeline_schedule.h): one function per family.
//
// Each generator first writes every rank's compute order (forwards, backwards, their
// B/W halves, overlapped pairs), then insert_communication() adds the sends and
// receives by the convention of pipeline_schedule.h. Within one chunk, micro-batches
// run their forwards in increasing order and their backwards in increasing order.
//
// Requirements (checked; a violation throws Error naming the option and the fix;
// `where` is the caller's name for the options, e.g. "sadari schedule" or a config key):
//   every kind      P >= 1, M >= 1
//   gpipe, 1f1b     any M (1F1B with M < P simply has fewer warm-up forwards)
//   interleaved     V >= 2, M a multiple of P (Megatron's virtual pipeline groups
//                   micro-batches in rounds of P)
//   zb-h1           any M
//   dualpipe        P even, M even and M >= 2P (each direction needs at least P
//                   micro-batches so that every rank reaches the overlapped steady phase)
//   dualpipev       M >= 2P (same reason: the V has 2P stages)
//   V is fixed by the kind except for interleaved: 1 for gpipe/1f1b/zb-h1, 2 for the
//   DualPipe family; any other value is rejected.
#pragma once

#include <string>

#include "parallel/pipeline_schedule.h"

namespace sadari {

struct ScheduleRequest {
  ScheduleKind kind = ScheduleKind::one_f_one_b;
  int ranks = 1;            // P
  int microbatches = 1;     // M
  int chunks_per_rank = 0;  // V; 0 = the kind's default (2 for interleaved)
};

// How the caller names the request's fields, for errors: the `sadari schedule` flags by
// default; the trainer passes its config keys (parallel.pp, ...).
struct ScheduleOptionNames {
  std::string kind = "--kind";
  std::string ranks = "--stages";
  std::string microbatches = "--microbatches";
  std::string chunks = "--chunks";
};

// Checks the request against the requirements above, then generates. Errors have
// `where` as their place and name the offending option by `names`, with a value to use.
PipelineSchedule generate_schedule(const ScheduleRequest& request,
                                   const std::string& where = "pipeline schedule",
                                   const ScheduleOptionNames& names = {});

// The families (no input checks beyond generate_schedule's; call that).
PipelineSchedule generate_gpipe(int ranks, int microbatches);
PipelineSchedule generate_1f1b(int ranks, int microbatches);
PipelineSchedule generate_interleaved_1f1b(int ranks, int microbatches, int chunks_per_rank);
PipelineSchedule generate_zb_h1(int ranks, int microbatches);
PipelineSchedule generate_dualpipe(int ranks, int microbatches);
PipelineSchedule generate_dualpipe_v(int ranks, int microbatches);

// Adds the sends and receives of every rank's compute actions (the schedule must hold
// compute actions only): a recv right before the compute (or overlapped pair) that
// consumes it, a send right after the compute (or pair) that produced it; none
// between two chunks of the same rank.
void insert_communication(PipelineSchedule& schedule);

}  // namespace sadari
