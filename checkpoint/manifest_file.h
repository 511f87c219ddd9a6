// The manifest on disk: "SDRMANI1" (8 bytes), the payload length (u64, little
// endian), the CRC-32 of the payload (u32), then the serialized ckpt::Manifest.
// The frame makes a truncated or damaged manifest an error with a clear message
// instead of a Protobuf parse that may half-succeed.
#pragma once

#include <string>

#include "checkpoint/file_system.h"
#include "checkpoint/manifest.pb.h"

namespace sadari {

// Writes and fsyncs (not atomic by itself: it is written inside a .partial directory).
void write_manifest(FileSystem& fs, const std::string& path, const ckpt::Manifest& manifest);

// Throws Error naming `path` for a missing, truncated, damaged or unparsable manifest.
ckpt::Manifest read_manifest(FileSystem& fs, const std::string& path);

}  // namespace sadari
