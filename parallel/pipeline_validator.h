// Checks a PipelineSchedule (pipeline_schedule.h) before anyone runs or times it.
//
// validate_schedule() throws Error at the first problem, naming the rank, the action
// index in that rank's list, the action, and what is wrong. It checks, in order:
//   1. shape     every action names a micro-batch and chunk that exist and that pass
//                this rank (dualpipe: the direction of the chunk); sends and receives
//                name the peer (rank, chunk) the stage mapping says, and are not local;
//                overlapped pairs link two compute actions.
//   2. coverage  for every micro-batch and every stage location it passes: exactly one
//                forward, and either one backward or one backward_input and one
//                backward_weight, on the rank that holds the chunk.
//   3. order     on each rank: backward (or B) after the same micro-batch's forward,
//                W after B; the previous stage's forward before a forward and the next
//                stage's backward before a backward, either earlier on the same rank or
//                through a receive earlier in the list; a send after the compute that
//                produces its data.
//   4. matching  every send has exactly one matching receive and vice versa.
//   5. progress  run the lists with the convention's semantics (sends never block, a
//                receive waits for its send): if ranks stop with work left, the schedule
//                deadlocks; the error lists each stuck rank and what it waits for.
// It never modifies the schedule. Local; no communication.
#pragma once

#include "parallel/pipeline_schedule.h"

namespace sadari {

void validate_schedule(const PipelineSchedule& schedule);

}  // namespace sadari
