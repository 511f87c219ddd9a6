#include "apps/schedule_command.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "apps/command_line.h"
#include "apps/commands.h"
#include "parallel/pipeline_generators.h"
#include "parallel/pipeline_render.h"
#include "parallel/pipeline_simulator.h"
#include "parallel/pipeline_validator.h"

namespace sadari {

namespace {

const std::vector<OptionSpec> kScheduleOptions = {
    {"kind", true, false, "gpipe, 1f1b, interleaved, zb-h1, dualpipe or dualpipev (required)"},
    {"stages", true, false, "pipeline ranks P (required)"},
    {"microbatches", true, false, "micro-batches per step M (required)"},
    {"chunks", true, false, "model chunks per rank V (interleaved; default 2)"},
    {"f", true, false, "forward cost of one chunk (default 1)"},
    {"b", true, false, "input-backward cost of one chunk; full backward = b + w (default 1)"},
    {"w", true, false, "weight-backward cost of one chunk (default 1)"},
    {"fb", true, false, "cost of an overlapped forward+backward pair (DualPipe; default f+b+w)"},
    {"p2p", true, false, "transfer time of one activation or gradient (default 0)"},
    {"svg", true, false, "write the timeline as an SVG picture to FILE"},
    {"json", false, false, "print makespan, bubbles, peaks and action lists as one JSON object"},
    {"help", false, false, "show this help"},
};

const char* kScheduleUsage =
    "usage: sadari schedule --kind K --stages P --microbatches M [--chunks V]\n"
    "                       [--f F --b B --w W] [--fb X] [--p2p X] [--svg FILE] [--json]\n\n"
    "Generates the pipeline schedule K for P ranks and M micro-batches, checks it\n"
    "(coverage, dependencies, matched messages, no deadlock), simulates it with the\n"
    "given per-chunk costs and prints one timeline row per rank (F forward, B full\n"
    "backward, I input backward, W weight backward, then the micro-batch; lower case\n"
    "for chunk 1 and up; '.' idle), the makespan, bubble and activation peaks.";

int int_option(const ParsedArgs& a, const std::string& name, int fallback, bool required) {
  if (!a.has(name)) {
    if (required)
      throw UsageError("--" + name + " is required", "sadari schedule", "see sadari schedule --help");
    return fallback;
  }
  const std::string text = a.value(name);
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < -1000000 || v > 1000000)
    throw UsageError("--" + name + " expects an integer, got '" + text + "'", "sadari schedule",
                     "see sadari schedule --help");
  return static_cast<int>(v);
}

double cost_option(const ParsedArgs& a, const std::string& name, double fallback) {
  if (!a.has(name)) return fallback;
  const std::string text = a.value(name);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !(v >= 0) || v > 1e12)
    throw UsageError("--" + name + " expects a non-negative number, got '" + text + "'",
                     "sadari schedule", "see sadari schedule --help");
  return v;
}

}  // namespace

int cmd_schedule(const std::vector<std::string>& args) {
  const auto a = parse_args("schedule", args, kScheduleOptions);
  if (a.has("help")) {
    std::printf("%s\n\noptions:\n%s", kScheduleUsage, describe_options(kScheduleOptions).c_str());
    return 0;
  }
  if (!a.positional.empty())
    throw UsageError("unexpected argument '" + a.positional[0] + "'", "sadari schedule",
                     "see sadari schedule --help");
  if (!a.has("kind"))
    throw UsageError("--kind is required", "sadari schedule", "see sadari schedule --help");
  ScheduleRequest request;
  request.kind = parse_schedule_kind(a.value("kind"), "sadari schedule --kind");
  request.ranks = int_option(a, "stages", 0, true);
  request.microbatches = int_option(a, "microbatches", 0, true);
  request.chunks_per_rank = int_option(a, "chunks", 0, false);
  SimulationCosts costs;
  costs.forward = cost_option(a, "f", 1.0);
  costs.backward_input = cost_option(a, "b", 1.0);
  costs.backward_weight = cost_option(a, "w", 1.0);
  if (a.has("fb")) costs.overlapped_f_b = cost_option(a, "fb", 0.0);
  costs.p2p = cost_option(a, "p2p", 0.0);

  const PipelineSchedule schedule = generate_schedule(request, "sadari schedule");
  validate_schedule(schedule);
  const SimulationResult result = simulate_schedule(schedule, costs);

  if (a.has("svg")) {
    const std::string path = a.value("svg");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << render_svg(schedule, result, costs);
    out.close();
    if (!out) fail("cannot write the SVG picture", path, "check that the folder exists and is writable");
  }
  if (a.has("json"))
    std::fputs(render_json(schedule, result, costs).c_str(), stdout);
  else
    std::fputs(render_text_timeline(schedule, result, costs).c_str(), stdout);
  return 0;
}

}  // namespace sadari
