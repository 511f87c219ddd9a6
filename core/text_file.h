// Reading a whole input file (a config, a cluster description, a load file)
// with the errors every loader gives the same way: not found, a directory,
// unreadable. `kind` names the file in messages ("config file", "cluster
// file"); `where_to_look` is the hint for a missing file; `example` a path to
// suggest when a directory was given.
#pragma once

#include <string>

namespace sadari {

// Throws Error naming `path`.
std::string read_text_file(const std::string& path, const std::string& kind,
                           const std::string& where_to_look, const std::string& example);

}  // namespace sadari
