// alltoallv_bench: what sadari's all_to_all_v costs over the MPI library's own.
//
// For message sizes from 8 KiB to 64 MiB PER PEER (doubling), every rank sends
// one block of that size to every rank (itself included) with
//   - sadari:  MpiCommunicator::all_to_all_v (int64 counts converted to MPI's
//              int units, argument checks, the watchdog registration), and
//   - raw MPI: MPI_Alltoallv on the same MPI communicator and buffers,
// interleaved in the same run: each of several rounds times a batch of calls of
// one and then of the other (alternating which goes first), so both see the same
// machine state. Reported per size (nccl-tests style):
//   time     median over rounds of the per-call time, in microseconds, where a
//            round's time is the slowest rank's (a collective ends when its
//            last rank is done);
//   algbw    bytes this rank sends per call (size/peer x ranks) / time, GB/s;
//   busbw    algbw x (n-1)/n. The block a rank sends to itself never crosses a
//            link, so of the n blocks only n-1 load the interconnect; busbw is
//            the rate the links carried, comparable across rank counts and with
//            the link's peak (the nccl-tests convention for all-to-all);
//   sadari/raw  the ratio of the two times (1.00 = no overhead).
// Buffers hold a formula of (sender, receiver, index); after the first call of
// each size both results are checked against it (a wrong result aborts the run),
// so the figures are for calls that deliver the right data.
//
// Usage (ranks share the machine, so give each one thread):
//   OMP_NUM_THREADS=1 mpirun -np 4 build/bench/alltoallv_bench [--max-bytes N]
//     [--min-bytes N] [--rounds R]
// Timings are ratios against a baseline measured in the same run; nothing here
// passes or fails.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "comm/abort_job.h"
#include "comm/mpi_environment.h"
#include "core/error.h"

namespace {

struct Options {
  int64_t min_bytes = 8 << 10;
  int64_t max_bytes = 64 << 20;
  int rounds = 5;
  bool help = false;  // --help: the usage was printed (by rank 0)
};

Options parse(int argc, char** argv, bool print_help) {
  const sadari::bench::Args args("alltoallv_bench", argc, argv,
                                 {{"min-bytes", true, false, "smallest block per peer (default 8 KiB)"},
                                  {"max-bytes", true, false, "largest block per peer (default 64 MiB)"},
                                  {"rounds", true, false, "rounds per size (default 5)"}});
  Options o;
  o.help = args.help("usage: mpirun -np P alltoallv_bench [options]", print_help);
  o.min_bytes = args.integer("min-bytes", o.min_bytes, 4);
  o.max_bytes = args.integer("max-bytes", o.max_bytes, o.min_bytes);
  o.rounds = static_cast<int>(args.integer("rounds", o.rounds, 1, 1000000));
  return o;
}

// The value rank `from` sends to rank `to` at element i: exact in f32.
float payload(int from, int to, int64_t i) {
  return static_cast<float>((from * 7919 + to * 104729 + i) % 1048573);
}

double slowest(MPI_Comm comm, double seconds) {
  double max = 0;
  MPI_Allreduce(&seconds, &max, 1, MPI_DOUBLE, MPI_MAX, comm);
  return max;
}

using sadari::bench::median;

}  // namespace

int main(int argc, char** argv) {
  sadari::MpiEnvironment mpi(&argc, &argv);
  sadari::MpiCommunicator& comm = mpi.world();
  try {
    const Options options = parse(argc, argv, comm.rank() == 0);
    if (options.help) return 0;
    const int n = comm.size(), me = comm.rank();
    const MPI_Comm raw = comm.handle();
    const int64_t max_count = options.max_bytes / 4;
    if (max_count * n > INT32_MAX)
      sadari::fail("--max-bytes too large for MPI_Alltoallv's int displacements",
                   "alltoallv_bench", "lower --max-bytes");
    std::vector<float> send(static_cast<size_t>(max_count * n)),
        recv(static_cast<size_t>(max_count * n));
    if (me == 0) {
      std::printf("# alltoallv_bench: %d ranks, f32, %d rounds, OMP_NUM_THREADS=%s\n", n,
                  options.rounds, std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS")
                                                                 : "(unset)");
      std::printf("# %12s %10s | %12s %8s %8s | %12s %8s %8s | %10s\n", "bytes/peer", "calls",
                  "sadari us", "algbw", "busbw", "MPI us", "algbw", "busbw", "sadari/MPI");
    }
    for (int64_t bytes = options.min_bytes; bytes <= options.max_bytes; bytes *= 2) {
      const int64_t count = bytes / 4;
      std::vector<int64_t> counts(static_cast<size_t>(n), count), displs(static_cast<size_t>(n));
      std::vector<int> int_counts(static_cast<size_t>(n), static_cast<int>(count)),
          int_displs(static_cast<size_t>(n));
      for (int r = 0; r < n; ++r) {
        displs[static_cast<size_t>(r)] = r * count;
        int_displs[static_cast<size_t>(r)] = static_cast<int>(r * count);
      }
      for (int r = 0; r < n; ++r)
        for (int64_t i = 0; i < count; ++i)
          send[static_cast<size_t>(r * count + i)] = payload(me, r, i);

      auto run_sadari = [&] {
        comm.all_to_all_v(send.data(), counts.data(), displs.data(), recv.data(), counts.data(),
                          displs.data(), sadari::DType::f32);
      };
      auto run_raw = [&] {
        MPI_Alltoallv(send.data(), int_counts.data(), int_displs.data(), MPI_FLOAT, recv.data(),
                      int_counts.data(), int_displs.data(), MPI_FLOAT, raw);
      };
      auto check = [&](const char* which) {
        for (int s = 0; s < n; ++s)
          for (int64_t i = 0; i < count; ++i)
            if (recv[static_cast<size_t>(s * count + i)] != payload(s, me, i))
              sadari::fail(sadari::detail::cat(which, " delivered a wrong value from rank ", s,
                                               " at element ", i),
                           sadari::detail::cat("rank ", me), "this is a bug");
        std::fill(recv.begin(), recv.end(), -1.0f);
      };
      // Warm up and check both (first calls also set up connections).
      run_sadari();
      check("sadari all_to_all_v");
      run_raw();
      check("MPI_Alltoallv");

      // Enough calls per round that one round moves ~64 MiB per rank, at least 3.
      const int calls = static_cast<int>(std::clamp<int64_t>((64 << 20) / (bytes * n), 3, 200));
      std::vector<double> sadari_s, raw_s;
      for (int round = 0; round < options.rounds; ++round) {
        for (int turn = 0; turn < 2; ++turn) {
          const bool sadari_turn = (turn == 0) == (round % 2 == 0);
          MPI_Barrier(raw);
          const double start = MPI_Wtime();
          for (int c = 0; c < calls; ++c) sadari_turn ? run_sadari() : run_raw();
          const double per_call = slowest(raw, MPI_Wtime() - start) / calls;
          (sadari_turn ? sadari_s : raw_s).push_back(per_call);
        }
      }
      const double ts = median(sadari_s), tr = median(raw_s);
      const double sent = static_cast<double>(bytes) * n;  // bytes this rank sends per call
      const double bus = static_cast<double>(n - 1) / n;
      if (me == 0)
        std::printf("  %12lld %10d | %12.1f %8.3f %8.3f | %12.1f %8.3f %8.3f | %10.3f\n",
                    static_cast<long long>(bytes), calls, ts * 1e6, sent / ts / 1e9,
                    sent / ts / 1e9 * bus, tr * 1e6, sent / tr / 1e9, sent / tr / 1e9 * bus,
                    ts / tr);
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    sadari::abort_job(sadari::detail::cat("rank ", comm.world_rank(), ": ", e.what()), 1);
  }
}
