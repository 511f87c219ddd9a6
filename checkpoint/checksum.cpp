#include "checkpoint/checksum.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace sadari {

uint32_t crc32_of(const void* data, size_t bytes, uint32_t previous) {
  // zlib takes uInt lengths: feed it in pieces below 4 GiB.
  uLong crc = previous;
  const Bytef* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {
    const size_t n = std::min<size_t>(bytes, 1u << 30);
    crc = ::crc32(crc, p, static_cast<uInt>(n));
    p += n;
    bytes -= n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace sadari
