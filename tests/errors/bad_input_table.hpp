// SPDX-License-Identifier: Apache-2.0
// The bad-input tables' row and walker, shared by the tests of tests/errors/: each row is a call
// that must throw reckon::exception with its code and a message naming the cause.
#pragma once

#include <reckon/core/result.hpp>

#include <support/catch.hpp>

#include <functional>
#include <string>
#include <vector>

namespace reckon::test {

struct bad_input_row {
  std::string call;    // what is called, with what
  std::string message; // a part of the error's message that names the cause
  std::function<void()> run;
  reckon::errc code = reckon::errc::invalid_argument;
};

inline void walk_bad_inputs(const std::vector<bad_input_row>& table) {
  for (const auto& row : table) {
    INFO(row.call);
    bool thrown = false;
    try {
      row.run();
    } catch (const reckon::exception& e) {
      thrown = true;
      CHECK(e.code() == row.code);
      CHECK_THAT(e.error().message, Catch::Contains(row.message));
    }
    CHECK(thrown);
  }
}

} // namespace reckon::test
