// Helpers shared by the data tests: scratch directories and error capture.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace sadari::testing {

// A fresh directory under the build tree (or /tmp), removed with its contents
// when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string root = std::filesystem::exists(SADARI_BINARY_DIR) ? std::string(SADARI_BINARY_DIR) : "/tmp";
    std::string pattern = root + "/data-test-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    if (!made) throw std::runtime_error("mkdtemp failed under " + root);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `body`, which must throw sadari::Error; returns the one-line message.
template <typename Body>
std::string error_message(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "error message spans lines: " << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-sadari exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected a sadari::Error, nothing was thrown";
  return {};
}

}  // namespace sadari::testing
