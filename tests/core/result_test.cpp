// SPDX-License-Identifier: Apache-2.0
#include <reckon/core/result.hpp>

#include <support/catch.hpp>

#include <memory>
#include <variant>
#include <string>

using reckon::errc;
using reckon::result;

TEST_CASE("result holds a value or an error", "[core][result]") {
  const result<int> ok = 42;
  REQUIRE(ok.has_value());
  REQUIRE(static_cast<bool>(ok));
  CHECK(ok.value() == 42);
  CHECK(*ok == 42);
  CHECK(ok.value_or(7) == 42);

  const result<int> bad = reckon::fail(errc::no_capacity, "KV cache full");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::no_capacity);
  CHECK(bad.error().message == "KV cache full");
  CHECK(bad.value_or(7) == 7);
  // Breaking the preconditions of * and error() is an exception, not undefined behaviour.
  CHECK_THROWS_AS(*bad, std::bad_variant_access);
  CHECK_THROWS_AS(ok.error(), std::bad_variant_access);
}

TEST_CASE("value() on an error throws reckon::exception carrying it", "[core][result]") {
  const result<std::string> bad = reckon::fail(errc::timeout, "no answer in 30 s");
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const reckon::exception& e) {
    CHECK(e.code() == errc::timeout);
    CHECK(e.error().message == "no answer in 30 s");
    CHECK(std::string(e.what()) == "timeout: no answer in 30 s");
  }
  const result<void> void_bad = reckon::fail(errc::aborted, "cancelled");
  CHECK_THROWS_AS(void_bad.value(), reckon::exception);
  const result<void> void_ok;
  CHECK(void_ok.has_value());
  CHECK_NOTHROW(void_ok.value());
}

TEST_CASE("result works with move-only values", "[core][result]") {
  result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  REQUIRE(r);
  std::unique_ptr<int> p = std::move(r).value();
  CHECK(*p == 5);
}

TEST_CASE("every errc has a name", "[core][result]") {
  for (const errc c : {errc::invalid_argument, errc::no_capacity, errc::aborted, errc::engine_failure,
                       errc::budget_exhausted, errc::unsupported, errc::timeout}) {
    CHECK(reckon::to_string(c) != "unknown");
  }
  CHECK(reckon::to_string(static_cast<errc>(999)) == "unknown");
}

TEST_CASE("detail::require throws invalid_argument", "[core][result]") {
  CHECK_NOTHROW(reckon::detail::require(true, "fine"));
  try {
    reckon::detail::require(false, "n must be > 0");
    FAIL("require did not throw");
  } catch (const reckon::exception& e) {
    CHECK(e.code() == errc::invalid_argument);
  }
}
