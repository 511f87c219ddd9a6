// Helpers shared by the tests in tests/config/.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/config_load.h"
#include "core/error.h"

namespace sadari::testing {

// Runs `body`, expects a sadari::Error whose one-line message contains every one
// of `parts`; returns the message so a test can check more.
inline std::string expect_config_error(const std::function<void()>& body,
                                       const std::vector<std::string>& parts) {
  try {
    body();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message spans lines: " << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-sadari exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error thrown; expected one containing '" << (parts.empty() ? "" : parts[0]) << "'";
  return {};
}

// Loads YAML text named "t.yaml" in messages.
inline Config load_text(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return load_config_from_string(yaml, "t.yaml", overrides);
}

inline std::string source_path(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

}  // namespace sadari::testing
