#include "checkpoint/manifest_file.h"

#include <cstring>

#include "checkpoint/checksum.h"
#include "core/error.h"

namespace sadari {

namespace {
constexpr char kMagic[8] = {'S', 'D', 'R', 'M', 'A', 'N', 'I', '1'};
constexpr size_t kHeader = 8 + 8 + 4;
}  // namespace

void write_manifest(FileSystem& fs, const std::string& path, const ckpt::Manifest& manifest) {
  std::string payload;
  SADARI_CHECK(manifest.SerializeToString(&payload), "could not serialize the manifest");
  std::string frame(kHeader, '\0');
  const uint64_t length = payload.size();
  const uint32_t crc = crc32_of(payload.data(), payload.size());
  std::memcpy(frame.data(), kMagic, 8);
  std::memcpy(frame.data() + 8, &length, 8);
  std::memcpy(frame.data() + 16, &crc, 4);
  auto f = fs.create(path);
  f->append(frame.data(), frame.size());
  f->append(payload.data(), payload.size());
  f->sync();
  f->close();
}

ckpt::Manifest read_manifest(FileSystem& fs, const std::string& path) {
  if (!fs.exists(path)) fail("the manifest is missing", path, "use a complete checkpoint");
  const std::string data = read_whole_file(fs, path);
  if (data.size() < kHeader || std::memcmp(data.data(), kMagic, 8) != 0)
    fail("not a sadari manifest (bad header)", path, "the file is damaged or not a checkpoint");
  uint64_t length = 0;
  uint32_t crc = 0;
  std::memcpy(&length, data.data() + 8, 8);
  std::memcpy(&crc, data.data() + 16, 4);
  if (data.size() - kHeader != length)
    fail(detail::cat("the manifest holds ", data.size() - kHeader, " bytes of ", length),
         path, "the file is truncated or damaged: use another checkpoint");
  if (crc32_of(data.data() + kHeader, length) != crc)
    fail("the manifest's checksum does not match", path,
         "the file is damaged: use another checkpoint");
  ckpt::Manifest manifest;
  if (!manifest.ParseFromArray(data.data() + kHeader, static_cast<int>(length)))
    fail("the manifest does not parse", path, "the file is damaged: use another checkpoint");
  return manifest;
}

}  // namespace sadari
