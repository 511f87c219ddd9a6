#include "parallel/pipeline_schedule.h"

#include "core/error.h"

namespace sadari {

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::gpipe: return "gpipe";
    case ScheduleKind::one_f_one_b: return "1f1b";
    case ScheduleKind::interleaved_1f1b: return "interleaved";
    case ScheduleKind::zb_h1: return "zb-h1";
    case ScheduleKind::dualpipe: return "dualpipe";
    case ScheduleKind::dualpipe_v: return "dualpipev";
  }
  return "?";
}

ScheduleKind parse_schedule_kind(const std::string& name, const std::string& where) {
  for (ScheduleKind k : {ScheduleKind::gpipe, ScheduleKind::one_f_one_b,
                         ScheduleKind::interleaved_1f1b, ScheduleKind::zb_h1,
                         ScheduleKind::dualpipe, ScheduleKind::dualpipe_v})
    if (name == to_string(k)) return k;
  fail("unknown pipeline schedule '" + name + "'", where,
       "choose one of gpipe, 1f1b, interleaved, zb-h1, dualpipe, dualpipev");
}

std::string to_string(ActionKind kind) {
  switch (kind) {
    case ActionKind::forward: return "F";
    case ActionKind::backward: return "B";
    case ActionKind::backward_input: return "Bi";
    case ActionKind::backward_weight: return "W";
    case ActionKind::send_activation: return "sendA";
    case ActionKind::recv_activation: return "recvA";
    case ActionKind::send_gradient: return "sendG";
    case ActionKind::recv_gradient: return "recvG";
  }
  return "?";
}

bool is_compute(ActionKind k) {
  return k == ActionKind::forward || k == ActionKind::backward ||
         k == ActionKind::backward_input || k == ActionKind::backward_weight;
}
bool is_send(ActionKind k) {
  return k == ActionKind::send_activation || k == ActionKind::send_gradient;
}
bool is_recv(ActionKind k) {
  return k == ActionKind::recv_activation || k == ActionKind::recv_gradient;
}

MessageKey message_key(int rank, const Action& a) {
  SADARI_ASSERT(is_send(a.kind) || is_recv(a.kind));
  const bool gradient =
      a.kind == ActionKind::send_gradient || a.kind == ActionKind::recv_gradient;
  if (is_send(a.kind)) return {rank, a.peer, gradient, a.microbatch, a.chunk, a.peer_chunk};
  return {a.peer, rank, gradient, a.microbatch, a.peer_chunk, a.chunk};
}

std::string describe(const Action& a) {
  std::string s = to_string(a.kind) + std::to_string(a.microbatch) + "c" + std::to_string(a.chunk);
  if (is_send(a.kind)) s += "->r" + std::to_string(a.peer) + "c" + std::to_string(a.peer_chunk);
  if (is_recv(a.kind)) s += "<-r" + std::to_string(a.peer) + "c" + std::to_string(a.peer_chunk);
  if (a.overlap_with_next) s += "&";
  return s;
}

PipelineSchedule::PipelineSchedule(ScheduleKind kind, int ranks, int microbatches,
                                   int chunks_per_rank)
    : kind_(kind), ranks_(ranks), microbatches_(microbatches), chunks_(chunks_per_rank) {
  SADARI_ASSERT(ranks >= 1 && microbatches >= 1 && chunks_per_rank >= 1);
  per_rank_.resize(static_cast<size_t>(ranks));
}

int PipelineSchedule::num_stages() const {
  switch (kind_) {
    case ScheduleKind::interleaved_1f1b: return chunks_ * ranks_;
    case ScheduleKind::dualpipe_v: return 2 * ranks_;
    default: return ranks_;
  }
}

int PipelineSchedule::stage_of(int rank, int chunk) const {
  SADARI_ASSERT(rank >= 0 && rank < ranks_ && chunk >= 0 && chunk < chunks_);
  switch (kind_) {
    case ScheduleKind::interleaved_1f1b: return chunk * ranks_ + rank;
    case ScheduleKind::dualpipe: return chunk == 0 ? rank : ranks_ - 1 - rank;
    case ScheduleKind::dualpipe_v: return chunk == 0 ? rank : 2 * ranks_ - 1 - rank;
    default: return rank;
  }
}

StageLocation PipelineSchedule::location_of(int microbatch, int stage) const {
  SADARI_ASSERT(microbatch >= 0 && microbatch < microbatches_);
  SADARI_ASSERT(stage >= 0 && stage < num_stages());
  switch (kind_) {
    case ScheduleKind::interleaved_1f1b: return {stage % ranks_, stage / ranks_};
    case ScheduleKind::dualpipe:
      // The first half flows down on chunk 0, the second half up on chunk 1.
      if (microbatch < microbatches_ / 2) return {stage, 0};
      return {ranks_ - 1 - stage, 1};
    case ScheduleKind::dualpipe_v:
      if (stage < ranks_) return {stage, 0};
      return {2 * ranks_ - 1 - stage, 1};
    default: return {stage, 0};
  }
}

bool PipelineSchedule::runs_microbatch(int rank, int chunk, int microbatch) const {
  if (rank < 0 || rank >= ranks_ || chunk < 0 || chunk >= chunks_) return false;
  if (microbatch < 0 || microbatch >= microbatches_) return false;
  if (kind_ == ScheduleKind::dualpipe)
    return (microbatch < microbatches_ / 2) == (chunk == 0);
  return true;
}

std::optional<StageLocation> PipelineSchedule::next_location(int microbatch,
                                                             StageLocation here) const {
  SADARI_ASSERT(runs_microbatch(here.rank, here.chunk, microbatch));
  const int s = stage_of(here.rank, here.chunk);
  if (s + 1 >= num_stages()) return std::nullopt;
  return location_of(microbatch, s + 1);
}

std::optional<StageLocation> PipelineSchedule::previous_location(int microbatch,
                                                                 StageLocation here) const {
  SADARI_ASSERT(runs_microbatch(here.rank, here.chunk, microbatch));
  const int s = stage_of(here.rank, here.chunk);
  if (s == 0) return std::nullopt;
  return location_of(microbatch, s - 1);
}

bool PipelineSchedule::is_first_stage(int microbatch, StageLocation here) const {
  return runs_microbatch(here.rank, here.chunk, microbatch) &&
         stage_of(here.rank, here.chunk) == 0;
}

bool PipelineSchedule::is_last_stage(int microbatch, StageLocation here) const {
  return runs_microbatch(here.rank, here.chunk, microbatch) &&
         stage_of(here.rank, here.chunk) == num_stages() - 1;
}

int PipelineSchedule::message_tag(int rank, const Action& a) const {
  SADARI_ASSERT(is_send(a.kind) || is_recv(a.kind));
  const bool gradient =
      a.kind == ActionKind::send_gradient || a.kind == ActionKind::recv_gradient;
  int consumer = stage_of(rank, a.chunk);
  if (is_send(a.kind)) consumer += gradient ? -1 : 1;  // the stage on the other side
  return (a.microbatch * num_stages() + consumer) * 2 + (gradient ? 1 : 0);
}

const std::vector<Action>& PipelineSchedule::actions(int rank) const {
  SADARI_ASSERT(rank >= 0 && rank < ranks_);
  return per_rank_[static_cast<size_t>(rank)];
}

std::vector<Action>& PipelineSchedule::mutable_actions(int rank) {
  SADARI_ASSERT(rank >= 0 && rank < ranks_);
  return per_rank_[static_cast<size_t>(rank)];
}

}  // namespace sadari
