// CRC-32 (zlib's, the polynomial of gzip and PNG) of checkpoint pieces and
// manifests: fast, and enough to detect flipped bytes and truncation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sadari {

// CRC-32 of `bytes` bytes; `previous` continues a running checksum (start: 0).
uint32_t crc32_of(const void* data, size_t bytes, uint32_t previous = 0);

}  // namespace sadari
