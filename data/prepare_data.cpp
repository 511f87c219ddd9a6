#include "data/prepare_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "core/error.h"
#include "data/token_shard.h"
#include "data/tokenizer.h"

namespace sadari {

namespace fs = std::filesystem;

namespace {

bool is_hidden(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Regular files below `dir`, sorted by path so the shard does not depend on the
// order the filesystem happens to list entries in.
std::vector<fs::path> files_below(const fs::path& dir, bool include_hidden) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) fail(detail::cat("cannot list directory: ", ec.message()), dir.string());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(detail::cat("cannot list directory: ", ec.message()), it->path().string());
    if (!include_hidden && is_hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) fail(detail::cat("cannot list directory: ", ec.message()), dir.string());
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  return files;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  bool same = fs::equivalent(a, b, ec);
  return !ec && same;
}

}  // namespace

PrepareDataStats prepare_data(const std::vector<std::string>& inputs, const std::string& output,
                              const PrepareDataOptions& options) {
  if (inputs.empty()) fail("no inputs given", "prepare-data", "name text files or directories");

  std::vector<fs::path> documents;
  for (const std::string& input : inputs) {
    std::error_code ec;
    fs::file_status status = fs::status(input, ec);
    if (ec || !fs::exists(status)) fail("no such file or directory", input);
    if (fs::is_directory(status)) {
      std::vector<fs::path> found = files_below(input, options.include_hidden);
      documents.insert(documents.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(status)) {
      documents.emplace_back(input);
    } else {
      fail("not a regular file or directory", input);
    }
  }
  // Re-running prepare-data with the output inside an input directory must not
  // swallow the previous shard (or our own temporary file) as a document.
  const fs::path out_path(output), tmp_path(output + ".tmp");
  std::erase_if(documents, [&](const fs::path& p) { return same_file(p, out_path) || same_file(p, tmp_path); });
  if (documents.empty())
    fail("no input files found", inputs.size() == 1 ? inputs[0] : std::string("prepare-data inputs"),
         "directories are searched recursively; hidden files are skipped");

  PrepareDataStats stats;
  TokenShardWriter writer(output, options.dtype);
  std::vector<char> chunk(size_t{1} << 20);
  std::vector<int32_t> ids(chunk.size());
  for (const fs::path& doc : documents) {
    std::ifstream in(doc, std::ios::binary);
    if (!in) fail("cannot open for reading", doc.string());
    while (in) {
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      const std::streamsize got = in.gcount();
      if (got <= 0) break;
      // Byte tokenizer inline: id = unsigned byte value (see data/tokenizer.h).
      for (std::streamsize i = 0; i < got; ++i) ids[i] = static_cast<unsigned char>(chunk[i]);
      writer.append(std::span<const int32_t>(ids.data(), static_cast<size_t>(got)));
      stats.bytes += got;
    }
    if (in.bad()) fail("read error", doc.string());
    writer.append(ByteTokenizer::kEod);
    ++stats.documents;
  }
  if (stats.bytes == 0)
    fail(detail::cat("empty result: the ", stats.documents, " input file(s) hold no bytes"),
         inputs.size() == 1 ? inputs[0] : std::string("prepare-data inputs"));
  stats.tokens = writer.tokens_written();
  writer.commit();
  return stats;
}

}  // namespace sadari
