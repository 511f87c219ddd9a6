// The layout of a checkpoint root directory (checkpoint.dir):
//
//   <root>/step-00000100/          one complete checkpoint: manifest.pb and
//          manifest.pb              rank-00000.bin ... (one data file per rank)
//          rank-00000.bin
//   <root>/step-00000200.partial/   a save in progress (or killed): never read
//   <root>/latest                   "step-00000200\n": the newest published one
//
// A checkpoint directory appears under its final name only by an atomic rename
// after all of its files are fsynced, and `latest` is replaced atomically after
// that; so a crash at any point leaves `latest` naming a complete checkpoint
// (or absent before the first save), and partial directories are ignored and
// removed by the next save.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/file_system.h"

namespace sadari {

constexpr const char* kManifestFile = "manifest.pb";
constexpr const char* kLatestFile = "latest";

std::string step_dir_name(int64_t step);                       // "step-00000100"
std::optional<int64_t> parse_step_dir_name(const std::string& name);  // complete ones only
std::string rank_file_name(int rank);                           // "rank-00003.bin"

// Steps of the complete checkpoints under root (a manifest is present), ascending.
std::vector<int64_t> list_checkpoints(FileSystem& fs, const std::string& root);

// The checkpoint directory `path` names: a checkpoint directory itself (has a
// manifest), or a root whose `latest` names one; "<root>/latest" works too.
// Throws Error naming the path and what is missing.
std::string resolve_checkpoint_dir(FileSystem& fs, const std::string& path);

// Points <root>/latest at step_dir_name(step) atomically (write, fsync, rename).
void update_latest(FileSystem& fs, const std::string& root, int64_t step);

// Removes complete checkpoints beyond the newest `keep` (keep >= 1), never the
// one `latest` names, and every *.partial directory (left by killed saves).
void apply_retention(FileSystem& fs, const std::string& root, int64_t keep);

}  // namespace sadari
