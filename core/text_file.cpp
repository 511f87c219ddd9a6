#include "core/text_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sadari {

std::string read_text_file(const std::string& path, const std::string& kind,
                           const std::string& where_to_look, const std::string& example) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(kind + " not found", path, where_to_look);
  if (std::filesystem::is_directory(path, ec))
    fail(detail::cat("is a directory, not a ", kind), path, "name a .yaml file, e.g. " + example);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open " + kind, path, "check its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail("cannot read " + kind, path);
  return text.str();
}

}  // namespace sadari
