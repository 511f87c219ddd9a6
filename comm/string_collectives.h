// Collectives over strings (serialized messages, error texts), on top of the
// typed Communicator calls: the bytes travel packed into i64 words, so no byte
// dtype is needed in the backends.
//
// All three are COLLECTIVE over `group`: every rank must call them in the same order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace sadari {

// Rank `root` gets every rank's string (index = rank); other ranks get {}.
std::vector<std::string> gather_strings(Communicator& group, const std::string& mine, int root);

// Every rank gets root's `value`.
std::string broadcast_string(Communicator& group, const std::string& value, int root);

// Agreement on failure: each rank passes its error message, or nullopt when it
// succeeded. Returns nullopt on every rank when all succeeded; otherwise, on every
// rank, "rank R of <group>: <message>" of the lowest failing rank R (rank in `group`) (so all ranks stop together
// with the same, first-hand message instead of hanging in the next collective).
std::optional<std::string> first_failure(Communicator& group, const std::optional<std::string>& mine);

}  // namespace sadari
