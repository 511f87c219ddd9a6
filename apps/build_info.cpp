#include "apps/build_info.h"

#ifndef SADARI_VERSION
#define SADARI_VERSION "0.1.0"
#endif
#ifndef SADARI_GIT_COMMIT
#define SADARI_GIT_COMMIT ""
#endif

namespace sadari {

const char* sadari_version() { return SADARI_VERSION; }
const char* sadari_git_commit() { return SADARI_GIT_COMMIT; }

}  // namespace sadari
