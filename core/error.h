// One error mechanism for all of sadari.
//
// Every failure that a user can cause or must act on is thrown as sadari::Error.
// An Error carries three parts, joined into one line by what():
//   where  - the place: "configs/x.yaml:12 model.hidden", "tensor blocks.3.attn.wq",
//            "rank 3", "data/train.bin" ... (may be empty)
//   what   - what failed, in plain words
//   hint   - what to do about it (may be empty)
// giving "where: what (hint: ...)". Only main() turns an Error into an exit code;
// library code never calls exit() or abort() for bad input.
//
// Programming errors (violated internal invariants) use SADARI_ASSERT, which also
// throws Error so that a bug in a long run ends with a message instead of a core dump.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace sadari {

class Error : public std::runtime_error {
 public:
  Error(std::string what, std::string where = {}, std::string hint = {});

  const std::string& what_failed() const { return what_; }
  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }

  // Returns a copy whose `where` is prefixed by `outer` ("outer: inner-where"),
  // for adding context while an error propagates (file name, rank, ...).
  Error within(const std::string& outer) const;

 private:
  std::string what_, where_, hint_;
};

[[noreturn]] void fail(std::string what, std::string where = {}, std::string hint = {});

namespace detail {
// Builds a message from stream-able parts: detail::cat("got ", n, " rows").
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace sadari

// SADARI_CHECK(cond, parts...): throws Error(cat(parts...)) when cond is false.
// Use for checks of caller-provided input where no better `where` is known.
#define SADARI_CHECK(cond, ...)                                   \
  do {                                                            \
    if (!(cond)) ::sadari::fail(::sadari::detail::cat(__VA_ARGS__)); \
  } while (0)

// SADARI_ASSERT(cond): internal invariant; names the source location.
#define SADARI_ASSERT(cond)                                                        \
  do {                                                                             \
    if (!(cond))                                                                   \
      ::sadari::fail("internal invariant failed: " #cond,                           \
                     ::sadari::detail::cat(__FILE__, ":", __LINE__),                \
                     "this is a bug in sadari; please report it with the command"); \
  } while (0)
