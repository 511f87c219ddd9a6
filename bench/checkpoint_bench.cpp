// Checkpoint save and load throughput against the raw sequential write and read
// bandwidth of the same disk, measured in the same run (one process):
//   raw write:  a new file of the same bytes, 4 MiB writes, then fsync (the
//               previous round's file removed afterwards, as the checkpoint's
//               retention removes the previous checkpoint);
//   save:       save_checkpoint of the same bytes as `tensors` tensors in two
//               pieces each (CRC-32 per piece, fsync, manifest, rename, latest);
//   raw read:   the raw file after posix_fadvise(DONTNEED) (out of the page cache);
//   load:       CheckpointReader + read of every tensor (CRC-checked), its data
//               file dropped from the page cache the same way first.
// Reported: medians of `repeats` rounds (alternating raw and checkpoint), MB/s,
// and save/raw-write and load/raw-read ratios (target >= 0.5, issue 7).
//
// usage: checkpoint_bench [--mib 256] [--tensors 64] [--repeats 3] [--dir DIR]
//   DIR defaults to ./checkpoint-bench (use the disk you checkpoint to).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "comm/self_communicator.h"

using namespace sadari;
using bench::Clock;
using bench::seconds_since;

namespace {

void drop_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

double raw_write(const std::string& path, const std::vector<float>& data) {
  const auto t0 = Clock::now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const char* p = reinterpret_cast<const char*>(data.data());
  size_t left = data.size() * sizeof(float);
  while (left > 0) {
    const ssize_t n = ::write(fd, p, std::min<size_t>(left, 4u << 20));
    if (n <= 0) std::perror("write"), std::exit(1);
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  return seconds_since(t0);
}

double raw_read(const std::string& path, std::vector<float>& out) {
  drop_from_page_cache(path);
  const auto t0 = Clock::now();
  const int fd = ::open(path.c_str(), O_RDONLY);
  char* p = reinterpret_cast<char*>(out.data());
  size_t left = out.size() * sizeof(float);
  while (left > 0) {
    const ssize_t n = ::read(fd, p, std::min<size_t>(left, 4u << 20));
    if (n <= 0) std::perror("read"), std::exit(1);
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  return seconds_since(t0);
}

}  // namespace

int main_bench(int argc, char** argv) {
  const bench::Args args("checkpoint_bench", argc, argv,
                         {{"mib", true, false, "MiB of f32 data (default 256)"},
                          {"tensors", true, false, "tensors it is split into (default 64)"},
                          {"repeats", true, false, "rounds (default 3)"},
                          {"dir", true, false, "scratch directory, removed after (default checkpoint-bench)"}});
  if (args.help("usage: checkpoint_bench [options]")) return 0;
  const int64_t mib = args.integer("mib", 256, 1, int64_t(1) << 30);
  const int64_t tensors = args.integer("tensors", 64, 1, int64_t(1) << 30);
  const int64_t repeats = args.integer("repeats", 3, 1, 1000000);
  const std::string dir = args.text("dir", "checkpoint-bench");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const int64_t total = mib * (1 << 20) / 4, per = total / tensors;
  std::vector<float> data(static_cast<size_t>(per * tensors)), back(data.size());
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 1000) * 0.5f;
  std::vector<TensorPiece> pieces;
  for (int64_t t = 0; t < tensors; ++t) {
    const std::string name = "param/t" + std::to_string(t);
    const float* base = data.data() + t * per;
    pieces.push_back({name, {per}, DType::f32, 0, per / 2, base});
    pieces.push_back({name, {per}, DType::f32, per / 2, per, base + per / 2});
  }
  const double bytes = static_cast<double>(data.size() * sizeof(float));
  const std::string root = dir + "/ckpt";
  SelfCommunicator world;
  std::vector<double> w_raw, w_ckpt, r_raw, r_ckpt;
  for (int64_t rep = 0; rep < repeats; ++rep) {
    const std::string raw = dir + "/raw-" + std::to_string(rep) + ".bin";
    w_raw.push_back(raw_write(raw, data));
    if (rep > 0) std::filesystem::remove(dir + "/raw-" + std::to_string(rep - 1) + ".bin");
    ckpt::Manifest h;
    h.set_step(rep + 1);
    SaveOptions opts;
    opts.keep = 1;
    auto t0 = Clock::now();
    const std::string saved = save_checkpoint(world, root, h, pieces, opts);
    w_ckpt.push_back(seconds_since(t0));

    r_raw.push_back(raw_read(raw, back));
    drop_from_page_cache(saved + "/rank-00000.bin");
    t0 = Clock::now();
    const CheckpointReader reader(root);
    for (int64_t t = 0; t < tensors; ++t)
      reader.read("param/t" + std::to_string(t), 0, per, back.data() + t * per);
    r_ckpt.push_back(seconds_since(t0));
    if (std::memcmp(back.data(), data.data(), static_cast<size_t>(bytes)) != 0)
      return std::fprintf(stderr, "checkpoint read back different data\n"), 1;
  }
  auto mbs = [&](const std::vector<double>& s) { return bytes / 1e6 / bench::median(s); };
  std::printf("checkpoint_bench: %lld MiB in %lld tensors (2 pieces each), %lld rounds, dir %s\n",
              static_cast<long long>(mib), static_cast<long long>(tensors),
              static_cast<long long>(repeats), dir.c_str());
  std::printf("  raw sequential write + fsync  %8.0f MB/s\n", mbs(w_raw));
  std::printf("  checkpoint save               %8.0f MB/s   ratio %.2f\n", mbs(w_ckpt),
              mbs(w_ckpt) / mbs(w_raw));
  std::printf("  raw sequential read (uncached)%8.0f MB/s\n", mbs(r_raw));
  std::printf("  checkpoint load (CRC checked) %8.0f MB/s   ratio %.2f\n", mbs(r_ckpt),
              mbs(r_ckpt) / mbs(r_raw));
  std::filesystem::remove_all(dir);
  return 0;
}

int main(int argc, char** argv) {
  return bench::run_main("checkpoint_bench", [&] { return main_bench(argc, argv); });
}
