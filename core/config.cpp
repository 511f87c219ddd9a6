#include "core/config.h"

namespace sadari {

std::string Config::where(const std::string& key_path) const {
  auto it = origin.find(key_path);
  // A key the file never set has no line to point at; its path alone still tells
  // the user what to add.
  if (it == origin.end()) return key_path;
  return it->second + " " + key_path;
}

}  // namespace sadari
