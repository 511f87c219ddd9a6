#include "kernels/exec_context.h"

namespace sadari {

const ExecContext& ExecContext::cpu() {
  static const ExecContext context{};
  return context;
}

}  // namespace sadari
