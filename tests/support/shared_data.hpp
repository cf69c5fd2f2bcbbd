// SPDX-License-Identifier: Apache-2.0
// Checks on the real data in ../shared/data (beside the checkout in CI, absent in a user's clone).
#pragma once

// Such a check is tagged [shared]; tests/CMakeLists.txt runs those test cases as their own CTest
// test (<area>.shared) with SKIP_RETURN_CODE 77 and keeps them out of the area's main test, so a
// missing file makes CTest report "Skipped" rather than a "Passed" for a check that never ran.
// Catch2 v2 has no SKIP, hence the exit code. Catch2 exits with the number of failed assertions, so
// a [shared] test case checks aggregates (a few assertions), never one assertion per record: 77
// failures would read as a skip.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace reckon::test {

/// The exit status that tests/CMakeLists.txt declares as SKIP_RETURN_CODE for [shared] tests.
inline constexpr int skip_exit_code = 77;

/// Ends the test program as skipped, saying why.
[[noreturn]] inline void skip_test_program(std::string_view why) {
  std::fprintf(stdout, "SKIPPED: %.*s\n", static_cast<int>(why.size()), why.data());
  std::fflush(stdout);
  std::exit(skip_exit_code);
}

/// ../shared/data/<name> beside the source tree; when it is absent the program ends as skipped.
[[nodiscard]] inline std::filesystem::path shared_data_file(std::string_view name) {
  const auto file = std::filesystem::path(RECKON_TEST_SOURCE_DIR) / ".." / "shared" / "data" / name;
  if (!std::filesystem::exists(file)) skip_test_program(file.string() + " not found");
  return file;
}

} // namespace reckon::test
