// prepare_data: turns text files into one token shard (`sadari prepare-data`).
//
// Each input is a file or a directory. A directory contributes every regular file
// below it (recursively), in sorted path order so the same tree always yields the
// same shard; hidden entries (names starting with '.') inside directories are
// skipped unless options.include_hidden, so a .git folder never becomes training
// data. Files named directly are always used, in the order given.
// Every file is one document: its bytes as byte tokens (data/tokenizer.h), then
// <eod>. The output is written atomically (data/token_shard.h); a file that is
// the output itself (or its .tmp) is never read as input.
//
// Errors (sadari::Error, where = the offending path): an input that does not
// exist or cannot be read, no input files at all, inputs holding no bytes, an
// unwritable output.
// Thread-safety: touches only the named files; independent calls may run concurrently
// if their outputs differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/token_view.h"

namespace sadari {

struct PrepareDataOptions {
  TokenDtype dtype = TokenDtype::kU16;  // byte tokens and specials fit in u16
  bool include_hidden = false;          // also read dot-files/dot-dirs found in directories
};

struct PrepareDataStats {
  int64_t documents = 0;  // files read
  int64_t bytes = 0;      // text bytes read (= byte tokens)
  int64_t tokens = 0;     // tokens written: bytes + one <eod> per document
};

PrepareDataStats prepare_data(const std::vector<std::string>& inputs, const std::string& output,
                              const PrepareDataOptions& options = {});

}  // namespace sadari
