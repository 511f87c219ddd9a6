#include "core/config.h"

#include <cctype>

#include "core/error.h"

namespace sadari {

std::string Config::where(const std::string& key_path) const {
  auto it = origin.find(key_path);
  // A key the file never set has no line to point at; its path alone still tells
  // the user what to add.
  if (it == origin.end()) return key_path;
  return it->second + " " + key_path;
}

std::vector<int64_t> ParallelConfig::stage_layer_counts() const {
  std::vector<int64_t> counts;
  size_t at = 0;
  while (at < stage_layers.size()) {
    size_t end = stage_layers.find(',', at);
    if (end == std::string::npos) end = stage_layers.size();
    std::string item = stage_layers.substr(at, end - at);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.erase(0, 1);
    bool digits = !item.empty() && item.size() <= 9;
    for (char ch : item) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
    if (!digits)
      fail(detail::cat("entry ", counts.size() + 1, " of \"", stage_layers,
                       "\" is not a whole number of layers"),
           "parallel.stage_layers", "write the layers of each stage separated by commas, e.g. \"3,5\"");
    counts.push_back(std::stoll(item));
    at = end + 1;
    if (end == stage_layers.size() - 1)  // trailing comma: an empty last entry
      fail(detail::cat("\"", stage_layers, "\" ends with a comma"), "parallel.stage_layers",
           "remove the trailing comma");
  }
  return counts;
}

}  // namespace sadari
