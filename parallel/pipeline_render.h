// Pictures and numbers of a simulated pipeline schedule (pipeline_simulator.h):
// a text timeline, an SVG timeline and one JSON object. Pure functions of their
// inputs; `result` must come from simulate_schedule(schedule, ...).
//
// Letters (text and SVG labels): F forward, B full backward, I input backward (B of
// ZB-H1/DualPipe), W weight backward; followed by the micro-batch number. In the
// text form chunk 0 is upper case and chunk >= 1 lower case (f, b, i, w), so the two
// chunks of interleaved/DualPipe schedules can be told apart; idle time is '.'.
#pragma once

#include <string>

#include "parallel/pipeline_schedule.h"
#include "parallel/pipeline_simulator.h"

namespace sadari {

// One row per rank, `columns_per_unit` characters per unit of simulated time, then a
// line per rank with its busy time, bubble and activation peak, and the totals.
// columns_per_unit <= 0 picks one so that the shortest compute gets 3 columns.
std::string render_text_timeline(const PipelineSchedule& schedule, const SimulationResult& result,
                                 const SimulationCosts& costs, double columns_per_unit = 0);

// A self-contained SVG: a rectangle per compute action (colour by kind, lighter for
// chunk >= 1, a dark outline for overlapped pairs), its label when it fits, rank
// names, a time axis and a legend.
std::string render_svg(const PipelineSchedule& schedule, const SimulationResult& result,
                       const SimulationCosts& costs);

// {"kind", "stages", "microbatches", "chunks", "costs", "makespan", "bubble": {"total",
//  "fraction", "per_rank"}, "peak_activations": [...], "ranks": [{"rank", "compute",
//  "bubble", "peak_activations", "actions": [{"kind", "microbatch", "chunk", "start",
//  "end" [, "peer", "peer_chunk"] [, "overlap_with_next"]}]}]}
std::string render_json(const PipelineSchedule& schedule, const SimulationResult& result,
                        const SimulationCosts& costs);

}  // namespace sadari
