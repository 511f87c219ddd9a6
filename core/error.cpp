#include "core/error.h"

namespace sadari {

namespace {
std::string compose(const std::string& what, const std::string& where, const std::string& hint) {
  std::string line;
  if (!where.empty()) line += where + ": ";
  line += what;
  if (!hint.empty()) line += " (hint: " + hint + ")";
  return line;
}
}  // namespace

Error::Error(std::string what, std::string where, std::string hint)
    : std::runtime_error(compose(what, where, hint)),
      what_(std::move(what)),
      where_(std::move(where)),
      hint_(std::move(hint)) {}

Error Error::within(const std::string& outer) const {
  return Error(what_, where_.empty() ? outer : outer + ": " + where_, hint_);
}

void fail(std::string what, std::string where, std::string hint) {
  throw Error(std::move(what), std::move(where), std::move(hint));
}

}  // namespace sadari
