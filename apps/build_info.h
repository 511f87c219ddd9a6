// What this sadari build is, for `sadari version`, plans and checkpoints: the
// project version and the git commit it was built from (empty outside a git
// checkout). The values come from CMake (apps/CMakeLists.txt).
#pragma once

namespace sadari {

const char* sadari_version();     // "0.1.0"
const char* sadari_git_commit();  // "a8a88f4" or ""

}  // namespace sadari
