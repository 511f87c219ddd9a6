#include "apps/training_checkpoint.h"

#include <yaml-cpp/yaml.h>

#include <regex>

#include "apps/build_info.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "core/config_load.h"
#include "core/error.h"


namespace sadari {

namespace {

std::vector<int64_t> shape_of(const Parameter& p) {
  return {p.value.shape().begin(), p.value.shape().end()};
}

// DualPipe holds every stage on two pp ranks; the copy on the rank whose first
// chunk it is (rank s for stage s) is the one that is written.
bool primary_copy(const CheckpointScope& s, const std::string& name) {
  if (s.dualpipe_stages.empty()) return true;
  const int r = s.groups->pp->rank();
  const int last = static_cast<int>(s.dualpipe_stages.size()) - 1;
  static const std::regex block(R"(blocks\.(\d+)\..*)");
  std::smatch m;
  if (std::regex_match(name, m, block)) {
    const int64_t layer = std::stoll(m[1]);
    const StageLayers& mine = s.dualpipe_stages[static_cast<size_t>(r)];
    return layer >= mine.first && layer < mine.first + mine.count;
  }
  if (name.rfind("embed.", 0) == 0) return r == 0;
  return r == last;  // final norm and head
}

// Whether this rank writes the full values (and ZeRO-0 moments) of p.
bool writes_whole(const CheckpointScope& s, const Parameter& p) {
  if (!primary_copy(s, p.name)) return false;
  if (p.expert_id < 0) return s.groups->dp->rank() == 0;
  if (s.groups->coords.edp != 0) return false;
  const ExpertPlacement* placement = s.placement_of ? s.placement_of(p) : nullptr;
  return !placement || placement->replicas(p.expert_id).front().rank == s.groups->coords.ep;
}

std::string mismatch_in_model_section(const std::string& saved_yaml, const Config& cfg) {
  const YAML::Node saved = YAML::Load(saved_yaml)["model"];
  const YAML::Node now = YAML::Load(config_to_yaml(cfg))["model"];
  for (const auto& kv : now) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = kv.second.as<std::string>();
    const std::string there = saved[key] ? saved[key].as<std::string>() : std::string("(absent)");
    if (key != "name" && here != there)
      return detail::cat("model.", key, " is ", here, " in the config but ", there,
                         " in the checkpoint");
  }
  return {};
}

}  // namespace

std::string save_training_checkpoint(const CheckpointScope& s, int64_t steps_done) {
  const Config& cfg = *s.cfg;
  std::vector<TensorPiece> pieces;
  for (const auto& p : s.params->all()) {
    if (!writes_whole(s, *p)) continue;
    pieces.push_back({"param/" + p->name, shape_of(*p), DType::f32, 0, p->numel(), p->w<float>()});
    const auto [m, v] = s.optimizer->replicated_moments(p.get());
    if (!m) continue;  // ZeRO-1 (below) or not trainable
    pieces.push_back({"adam_m/" + p->name, shape_of(*p), DType::f32, 0, p->numel(), m});
    pieces.push_back({"adam_v/" + p->name, shape_of(*p), DType::f32, 0, p->numel(), v});
  }
  // ZeRO-1: this rank's shard of every bucket of every reduction group.
  for (const auto& group : s.optimizer->groups()) {
    if (!group.sharded) continue;
    const ParamBuckets& buckets = *group.buckets;
    const int r = group.comm->rank();
    const float* m = group.sharded->first_moment_shard().data<float>();
    const float* v = group.sharded->second_moment_shard().data<float>();
    for (size_t b = 0; b < buckets.buckets().size(); ++b) {
      const auto& bucket = buckets.buckets()[b];
      const int64_t lo = bucket.begin + r * bucket.shard_size;
      const int64_t base = group.sharded->shard_offset(b);
      for (const auto& seg : buckets.segments(lo, lo + bucket.shard_size)) {
        if (!primary_copy(s, seg.param->name)) continue;
        const int64_t at = base + (seg.flat_offset - lo);
        const std::vector<int64_t> shape = shape_of(*seg.param);
        const int64_t begin = seg.param_offset, end = seg.param_offset + seg.count;
        pieces.push_back({"adam_m/" + seg.param->name, shape, DType::f32, begin, end, m + at});
        pieces.push_back({"adam_v/" + seg.param->name, shape, DType::f32, begin, end, v + at});
      }
    }
  }

  // Online rebalancing's state: the same on every rank, written by world rank 0.
  ExpertRebalancer::State rebalance;
  if (s.rebalancer && s.rebalancer->enabled()) {
    rebalance = s.rebalancer->state();
    for (size_t i = 0; s.world->rank() == 0 && i < rebalance.blocks.size(); ++i) {
      const std::string block = detail::cat(rebalance.blocks[i]);
      const int64_t ep = s.cfg->parallel.ep;
      const int64_t ids = static_cast<int64_t>(rebalance.slots[i].size());
      pieces.push_back({"rebalance/placement/" + block, {ep, ids / ep}, DType::i64, 0, ids,
                        rebalance.slots[i].data()});
      const int64_t experts = static_cast<int64_t>(rebalance.ema[i].size());
      if (experts > 0)
        pieces.push_back({"rebalance/ema/" + block, {experts}, DType::f64, 0, experts,
                          rebalance.ema[i].data()});
    }
  }

  ckpt::Manifest header;
  header.set_step(steps_done);
  header.set_sadari_version(sadari_version());
  header.set_git_commit(sadari_git_commit());
  header.set_config_yaml(config_to_yaml(cfg));
  ckpt::Layout* layout = header.mutable_layout();
  layout->set_world(s.world->size());
  layout->set_pp(cfg.parallel.pp);
  layout->set_dp(cfg.parallel.dp);
  layout->set_ep(cfg.parallel.ep);
  layout->set_zero_stage(cfg.parallel.zero_stage);
  layout->set_schedule(cfg.parallel.schedule);
  (*header.mutable_counters())["step"] = steps_done;
  (*header.mutable_counters())["samples_consumed"] = steps_done * cfg.train.global_batch;
  if (s.rebalancer && s.rebalancer->enabled())
    (*header.mutable_counters())["rebalance_have_ema"] = rebalance.have_ema ? 1 : 0;
  auto& notes = *header.mutable_notes();
  notes["master_weights"] = "param/ (f32 training: the parameters are the master)";
  notes["layout"] = "parallel.* in config_yaml: from the config, --plan or parallel: auto";
  notes["rng"] =
      "counter-based, nothing to save: initial weights from (train.seed, parameter name, "
      "element), data order from (train.seed, sample index); the sampler resumes at "
      "samples_consumed";
  SaveOptions options;
  options.keep = cfg.checkpoint.keep;
  return save_checkpoint(*s.world, cfg.checkpoint.dir, header, pieces, options);
}

std::string resume_path(const Config& cfg, const std::string& resume) {
  return resume == "latest" ? cfg.checkpoint.dir : resume;
}

int64_t load_training_checkpoint(const CheckpointScope& s, const std::string& path) {
  const CheckpointReader reader(path);
  if (const std::string diff = mismatch_in_model_section(reader.manifest().config_yaml(), *s.cfg);
      !diff.empty())
    fail(diff, reader.dir(), "resume with the model config the checkpoint was trained with");
  // Online rebalancing first: the experts move to the saved placements, then
  // every slot loads its (logical) expert's values below.
  if (s.rebalancer && s.rebalancer->enabled() &&
      reader.manifest().counters().count("rebalance_have_ema")) {
    ExpertRebalancer::State saved;
    saved.have_ema = reader.manifest().counters().at("rebalance_have_ema") != 0;
    for (const ckpt::Tensor& t : reader.manifest().tensors()) {
      static const std::string prefix = "rebalance/placement/";
      if (t.name().rfind(prefix, 0) != 0) continue;
      const std::string block = t.name().substr(prefix.size());
      saved.blocks.push_back(static_cast<size_t>(std::stoll(block)));
      saved.slots.emplace_back(static_cast<size_t>(tensor_numel(t)));
      reader.read(t.name(), 0, tensor_numel(t), saved.slots.back().data());
      std::vector<double> ema;
      if (const ckpt::Tensor* e = reader.find("rebalance/ema/" + block)) {
        ema.resize(static_cast<size_t>(tensor_numel(*e)));
        reader.read(e->name(), 0, tensor_numel(*e), ema.data());
      }
      saved.ema.push_back(std::move(ema));
    }
    s.rebalancer->restore(saved, *s.optimizer);
  }
  auto read_full = [&](const std::string& name, const Parameter& p, float* out) {
    const ckpt::Tensor& t = reader.tensor(name);
    const std::vector<int64_t> want = shape_of(p);
    if (!std::equal(t.shape().begin(), t.shape().end(), want.begin(), want.end()) ||
        t.dtype() != "f32")
      fail(detail::cat("tensor ", name, " has another shape or dtype (", t.dtype(),
                       ") in the checkpoint than in the model"),
           reader.dir(), "resume with the model config the checkpoint was trained with");
    reader.read(name, 0, p.numel(), out);
  };
  for (const auto& p : s.params->all()) {
    read_full("param/" + p->name, *p, p->w<float>());
    const auto [m, v] = s.optimizer->replicated_moments(p.get());
    if (!m) continue;
    read_full("adam_m/" + p->name, *p, m);
    read_full("adam_v/" + p->name, *p, v);
  }
  const int64_t steps = reader.manifest().counters().count("step")
                            ? reader.manifest().counters().at("step")
                            : reader.manifest().step();
  // ZeRO-1: the full moments of each group in its flat layout, then each rank
  // keeps its shards (and refreshes its master shard from the loaded values).
  for (const auto& group : s.optimizer->groups()) {
    if (!group.sharded) continue;
    const ParamBuckets& buckets = *group.buckets;
    std::vector<float> m(static_cast<size_t>(buckets.size()), 0.0f), v(m.size(), 0.0f);
    for (size_t i = 0; i < buckets.params().size(); ++i) {
      const Parameter& p = *buckets.params()[i];
      read_full("adam_m/" + p.name, p, m.data() + buckets.offset_of(i));
      read_full("adam_v/" + p.name, p, v.data() + buckets.offset_of(i));
    }
    group.sharded->restore(steps, m.data(), v.data());
  }
  s.optimizer->restore_steps(steps);
  return steps;
}

}  // namespace sadari
