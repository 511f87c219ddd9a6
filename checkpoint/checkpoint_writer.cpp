#include "checkpoint/checkpoint_writer.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include "checkpoint/checkpoint_dir.h"
#include "checkpoint/checksum.h"
#include "checkpoint/manifest_file.h"
#include "comm/string_collectives.h"
#include "core/error.h"

namespace sadari {

namespace {

namespace fs = std::filesystem;


int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Runs `body`, turning an Error into its message; then every rank agrees.
template <typename Body>
void agreed_step(Communicator& world, Body&& body) {
  std::optional<std::string> failure;
  try {
    body();
  } catch (const Error& e) {
    failure = e.what();
  }
  if (const auto first = first_failure(world, failure))
    fail(detail::cat("saving the checkpoint failed: ", *first), {},
         "the previous checkpoint and 'latest' are unchanged");
}

// Step 2: this rank's data file; returns its pieces as a partial manifest.
ckpt::Manifest write_rank_file(FileSystem& fs, const std::string& dir, int rank,
                               const std::vector<TensorPiece>& pieces) {
  ckpt::Manifest mine;
  const std::string name = rank_file_name(rank);
  auto file = fs.create(join_path(dir, name));
  for (const TensorPiece& p : pieces) {
    SADARI_CHECK(p.begin >= 0 && p.end >= p.begin && p.end <= numel_of(p.shape),
                 "piece [", p.begin, ", ", p.end, ") of tensor ", p.tensor,
                 " lies outside its ", numel_of(p.shape), " elements");
    const uint64_t bytes = static_cast<uint64_t>(p.end - p.begin) * dtype_size(p.dtype);
    ckpt::Tensor* t = mine.add_tensors();
    t->set_name(p.tensor);
    for (int64_t d : p.shape) t->add_shape(d);
    t->set_dtype(std::string(dtype_name(p.dtype)));
    ckpt::Piece* piece = t->add_pieces();
    piece->set_file(name);
    piece->set_offset(file->size());
    piece->set_bytes(bytes);
    piece->set_begin(p.begin);
    piece->set_end(p.end);
    piece->set_rank(rank);
    // In chunks, each checksummed just before it is written: the bytes are read
    // from memory once (still in cache for the copy into the page cache).
    constexpr uint64_t kChunk = 4 << 20;
    const char* src = static_cast<const char*>(p.data);
    uint32_t crc = 0;
    for (uint64_t at = 0; at < bytes; at += kChunk) {
      const size_t n = static_cast<size_t>(std::min(kChunk, bytes - at));
      crc = crc32_of(src + at, n, crc);
      file->append(src + at, n);
    }
    piece->set_crc32(crc);
  }
  file->sync();
  ckpt::DataFile* f = mine.add_files();
  f->set_name(name);
  f->set_bytes(file->size());
  f->set_rank(rank);
  file->close();
  return mine;
}

// Step 3 (rank 0): one entry per logical tensor, pieces sorted and checked.
void merge_pieces(const std::vector<std::string>& reports, ckpt::Manifest* out) {
  std::map<std::string, ckpt::Tensor> tensors;
  for (size_t r = 0; r < reports.size(); ++r) {
    ckpt::Manifest part;
    SADARI_CHECK(part.ParseFromString(reports[r]), "rank ", r, "'s piece list did not parse");
    for (const ckpt::DataFile& f : part.files()) *out->add_files() = f;
    for (const ckpt::Tensor& t : part.tensors()) {
      auto [it, fresh] = tensors.try_emplace(t.name(), t);
      if (fresh) continue;
      ckpt::Tensor& merged = it->second;
      if (!std::equal(merged.shape().begin(), merged.shape().end(), t.shape().begin(),
                      t.shape().end()) ||
          merged.dtype() != t.dtype())
        fail(detail::cat("rank ", r, " wrote tensor ", t.name(), " with another shape or dtype (",
                         t.dtype(), ") than rank ", merged.pieces(0).rank(), " (", merged.dtype(),
                         ")"));
      for (const ckpt::Piece& p : t.pieces()) *merged.add_pieces() = p;
    }
  }
  for (auto& [name, t] : tensors) {
    auto* pieces = t.mutable_pieces();
    std::sort(pieces->begin(), pieces->end(),
              [](const ckpt::Piece& a, const ckpt::Piece& b) { return a.begin() < b.begin(); });
    int64_t covered = 0;
    for (const ckpt::Piece& p : *pieces) {
      if (p.begin() == p.end()) continue;
      if (p.begin() != covered)
        fail(detail::cat("tensor ", name, ": elements [", std::min(covered, p.begin()), ", ",
                         std::max(covered, p.begin()), ") are ",
                         p.begin() > covered ? "missing" : "written twice", " (rank ", p.rank(),
                         ")"));
      covered = p.end();
    }
    const int64_t numel = numel_of({t.shape().begin(), t.shape().end()});
    if (covered != numel)
      fail(detail::cat("tensor ", name, ": pieces cover ", covered, " of ", numel, " elements"));
    *out->add_tensors() = std::move(t);
  }
}

}  // namespace

std::string save_checkpoint(Communicator& world, const std::string& root,
                            const ckpt::Manifest& header, const std::vector<TensorPiece>& pieces,
                            const SaveOptions& options) {
  FileSystem& fs = options.fs ? *options.fs : posix_file_system();
  const std::string final_dir = join_path(root, step_dir_name(header.step()));
  const std::string partial = final_dir + ".partial";
  const bool leader = world.rank() == 0;

  agreed_step(world, [&] {
    if (!leader) return;
    SADARI_CHECK(options.keep >= 1, "checkpoint.keep must be >= 1, got ", options.keep);
    fs.create_dirs(root);
    for (const std::string& name : fs.list(root))
      if (name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0)
        fs.remove_all(join_path(root, name));
    fs.create_dirs(partial);
  });

  std::string report;
  agreed_step(world, [&] {
    write_rank_file(fs, partial, world.rank(), pieces).SerializeToString(&report);
  });

  const std::vector<std::string> reports = gather_strings(world, report, 0);
  agreed_step(world, [&] {
    if (!leader) return;
    ckpt::Manifest manifest = header;
    manifest.clear_tensors();
    manifest.clear_files();
    manifest.set_format_version(1);
    merge_pieces(reports, &manifest);
    write_manifest(fs, join_path(partial, kManifestFile), manifest);
    fs.sync_dir(partial);
    // An older save of the same step (a rerun from an earlier checkpoint) is
    // replaced: moved aside first, so the root never lacks a complete copy.
    const std::string replaced = final_dir + ".replaced";
    const bool had_old = fs.exists(final_dir);
    if (had_old) {
      fs.remove_all(replaced);
      fs.rename(final_dir, replaced);
    }
    fs.rename(partial, final_dir);
    fs.sync_dir(root);
    update_latest(fs, root, header.step());
    if (had_old) fs.remove_all(replaced);
    apply_retention(fs, root, options.keep);
  });
  return final_dir;
}

}  // namespace sadari
