#include "checkpoint/checkpoint_reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "checkpoint/checkpoint_dir.h"
#include "checkpoint/checksum.h"
#include "checkpoint/manifest_file.h"
#include "core/dtype.h"
#include "core/error.h"

namespace sadari {

namespace {


std::string piece_where(const std::string& dir, const ckpt::Tensor& t, const ckpt::Piece& p) {
  return detail::cat(join_path(dir, p.file()), " bytes [", p.offset(), ", ", p.offset() + p.bytes(),
                     ") (tensor ", t.name(), " elements [", p.begin(), ", ", p.end(), "))");
}

// Reads a whole piece and checks it. Throws Error naming the piece.
std::vector<char> read_piece(FileSystem& fs, const std::string& dir, const ckpt::Tensor& t,
                             const ckpt::Piece& p) {
  std::vector<char> bytes(p.bytes());
  try {
    fs.read(join_path(dir, p.file()), p.offset(), bytes.data(), bytes.size());
  } catch (const Error& e) {
    fail(e.what_failed(), piece_where(dir, t, p),
         e.hint().empty() ? "the checkpoint is damaged: use another one" : e.hint());
  }
  if (crc32_of(bytes.data(), bytes.size()) != p.crc32())
    fail("checksum mismatch", piece_where(dir, t, p),
         "the checkpoint is damaged: use another one");
  return bytes;
}

}  // namespace

int64_t tensor_numel(const ckpt::Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape()) n *= d;
  return n;
}

CheckpointReader::CheckpointReader(const std::string& path, FileSystem* fs)
    : fs_(fs ? fs : &posix_file_system()),
      dir_(resolve_checkpoint_dir(*fs_, path)),
      manifest_(read_manifest(*fs_, join_path(dir_, kManifestFile))) {
  if (manifest_.format_version() != 1)
    fail(detail::cat("checkpoint format version ", manifest_.format_version(),
                     " is not supported (this sadari reads version 1)"),
         dir_, "use the sadari version that wrote it");
}

const ckpt::Tensor* CheckpointReader::find(const std::string& name) const {
  const auto& ts = manifest_.tensors();
  const auto it = std::lower_bound(ts.begin(), ts.end(), name,
                                   [](const ckpt::Tensor& t, const std::string& n) {
                                     return t.name() < n;
                                   });
  return it != ts.end() && it->name() == name ? &*it : nullptr;
}

const ckpt::Tensor& CheckpointReader::tensor(const std::string& name) const {
  const ckpt::Tensor* t = find(name);
  if (!t)
    fail(detail::cat("the checkpoint has no tensor '", name, "'"), dir_,
         "the model config does not match the checkpoint's (see sadari ckpt inspect)");
  return *t;
}

void CheckpointReader::read(const std::string& name, int64_t begin, int64_t end,
                            void* out) const {
  const ckpt::Tensor& t = tensor(name);
  const size_t elem = dtype_size(parse_dtype(t.dtype()));
  SADARI_CHECK(0 <= begin && begin <= end && end <= tensor_numel(t), "elements [", begin, ", ",
               end, ") of tensor ", name, " lie outside its ", tensor_numel(t), " elements");
  char* dst = static_cast<char*>(out);
  // Pieces are sorted by begin and cover the tensor exactly once (the writer
  // checked): start at the last piece beginning at or before `begin`.
  const auto& pieces = t.pieces();
  auto it = std::upper_bound(pieces.begin(), pieces.end(), begin,
                             [](int64_t b, const ckpt::Piece& p) { return b < p.begin(); });
  if (it != pieces.begin()) --it;
  for (; it != pieces.end() && it->begin() < end; ++it) {
    const int64_t lo = std::max(begin, it->begin()), hi = std::min(end, it->end());
    if (lo >= hi) continue;
    const std::vector<char> bytes = read_piece(*fs_, dir_, t, *it);
    std::memcpy(dst + (lo - begin) * elem, bytes.data() + (lo - it->begin()) * elem,
                static_cast<size_t>(hi - lo) * elem);
  }
}

std::vector<char> CheckpointReader::read_all(const std::string& name) const {
  const ckpt::Tensor& t = tensor(name);
  std::vector<char> out(static_cast<size_t>(tensor_numel(t)) * dtype_size(parse_dtype(t.dtype())));
  read(name, 0, tensor_numel(t), out.data());
  return out;
}

std::vector<std::string> CheckpointReader::verify() const {
  std::vector<std::string> problems;
  for (const ckpt::DataFile& f : manifest_.files()) {
    const std::string path = join_path(dir_, f.name());
    if (!fs_->exists(path))
      problems.push_back(detail::cat(path, ": missing"));
    else if (fs_->file_size(path) != f.bytes())
      problems.push_back(detail::cat(path, ": ", fs_->file_size(path), " bytes, the manifest says ",
                                     f.bytes()));
  }
  for (const ckpt::Tensor& t : manifest_.tensors())
    for (const ckpt::Piece& p : t.pieces()) {
      try {
        read_piece(*fs_, dir_, t, p);
      } catch (const Error& e) {
        problems.push_back(e.what());
      }
    }
  return problems;
}

uint64_t CheckpointReader::data_bytes() const {
  uint64_t total = 0;
  for (const ckpt::DataFile& f : manifest_.files()) total += f.bytes();
  return total;
}

}  // namespace sadari
