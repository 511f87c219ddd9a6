#include "checkpoint/checkpoint_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace sadari {

namespace {
namespace fs = std::filesystem;


std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::optional<int64_t> parse_step_dir_name(const std::string& name) {
  if (name.size() < 6 || name.compare(0, 5, "step-") != 0) return std::nullopt;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

std::string rank_file_name(int rank) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rank-%05d.bin", rank);
  return buf;
}

std::vector<int64_t> list_checkpoints(FileSystem& fs, const std::string& root) {
  std::vector<int64_t> steps;
  for (const std::string& name : fs.list(root)) {
    const auto step = parse_step_dir_name(name);
    if (step && fs.exists(join_path(join_path(root, name), kManifestFile))) steps.push_back(*step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string resolve_checkpoint_dir(FileSystem& fs, const std::string& path) {
  if (fs.exists(join_path(path, kManifestFile))) return path;
  std::string latest_file = join_path(path, kLatestFile);
  std::string root = path;
  if (fs::path(path).filename() == kLatestFile) {
    latest_file = path;
    root = fs::path(path).parent_path().string();
  }
  if (!fs.exists(latest_file)) {
    if (!fs.exists(path))
      fail("no such checkpoint directory", path, "give a checkpoint directory or checkpoint.dir");
    fail("neither a checkpoint (no manifest.pb) nor a checkpoint root (no 'latest' file)", path,
         "give a step-NNNNNNNN directory or the checkpoint.dir of a run that saved");
  }
  const std::string name = trim(read_whole_file(fs, latest_file));
  const std::string dir = join_path(root, name);
  if (!parse_step_dir_name(name) || !fs.exists(join_path(dir, kManifestFile)))
    fail(detail::cat("'latest' names '", name, "', which is not a complete checkpoint"),
         latest_file, "give one of the step-NNNNNNNN directories explicitly");
  return dir;
}

void update_latest(FileSystem& fs, const std::string& root, int64_t step) {
  write_file_atomically(fs, join_path(root, kLatestFile), step_dir_name(step) + "\n");
}

void apply_retention(FileSystem& fs, const std::string& root, int64_t keep) {
  SADARI_CHECK(keep >= 1, "checkpoint.keep must be >= 1, got ", keep);
  std::optional<int64_t> latest;
  if (fs.exists(join_path(root, kLatestFile)))
    latest = parse_step_dir_name(trim(read_whole_file(fs, join_path(root, kLatestFile))));
  const std::vector<int64_t> steps = list_checkpoints(fs, root);
  for (size_t i = 0; i + static_cast<size_t>(keep) < steps.size(); ++i)
    if (!latest || steps[i] != *latest) fs.remove_all(join_path(root, step_dir_name(steps[i])));
  for (const std::string& name : fs.list(root))
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0)
      fs.remove_all(join_path(root, name));
}

}  // namespace sadari
