#include "comm/string_collectives.h"

#include <cstring>

#include "core/error.h"

namespace sadari {

namespace {

int64_t words_for(size_t bytes) { return static_cast<int64_t>((bytes + 7) / 8); }

}  // namespace

std::vector<std::string> gather_strings(Communicator& group, const std::string& mine, int root) {
  const int n = group.size();
  std::vector<int64_t> lengths(static_cast<size_t>(n));
  const int64_t my_length = static_cast<int64_t>(mine.size());
  group.all_gather(&my_length, lengths.data(), 1, DType::i64);

  // One all_to_all_v in which only `root` receives: every rank sends its words to root.
  std::vector<int64_t> send(static_cast<size_t>(words_for(mine.size())), 0);
  std::memcpy(send.data(), mine.data(), mine.size());
  std::vector<int64_t> send_counts(n, 0), send_displs(n, 0), recv_counts(n, 0), recv_displs(n, 0);
  send_counts[root] = static_cast<int64_t>(send.size());
  int64_t total = 0;
  if (group.rank() == root) {
    for (int r = 0; r < n; ++r) {
      recv_counts[r] = words_for(static_cast<size_t>(lengths[r]));
      recv_displs[r] = total;
      total += recv_counts[r];
    }
  }
  std::vector<int64_t> recv(static_cast<size_t>(total), 0);
  group.all_to_all_v(send.data(), send_counts.data(), send_displs.data(), recv.data(),
                     recv_counts.data(), recv_displs.data(), DType::i64);
  std::vector<std::string> out;
  if (group.rank() != root) return out;
  out.resize(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r)
    out[r].assign(reinterpret_cast<const char*>(recv.data() + recv_displs[r]),
                  static_cast<size_t>(lengths[r]));
  return out;
}

std::string broadcast_string(Communicator& group, const std::string& value, int root) {
  int64_t length = static_cast<int64_t>(value.size());
  group.broadcast(&length, 1, root);
  std::vector<int64_t> words(static_cast<size_t>(words_for(static_cast<size_t>(length))), 0);
  if (group.rank() == root) std::memcpy(words.data(), value.data(), value.size());
  if (!words.empty()) group.broadcast(words.data(), static_cast<int64_t>(words.size()), root);
  return std::string(reinterpret_cast<const char*>(words.data()), static_cast<size_t>(length));
}

std::optional<std::string> first_failure(Communicator& group,
                                         const std::optional<std::string>& mine) {
  // The lowest failing rank: min over ranks == -max over negated (ReduceOp has sum, max).
  int64_t neg_rank = mine ? -static_cast<int64_t>(group.rank()) : -static_cast<int64_t>(group.size());
  group.all_reduce(&neg_rank, 1, ReduceOp::max);
  const int failing = static_cast<int>(-neg_rank);
  if (failing == group.size()) return std::nullopt;
  const std::string text = broadcast_string(group, mine ? *mine : std::string(), failing);
  return detail::cat("rank ", failing, " of ", group.name(), ": ", text);
}

}  // namespace sadari
