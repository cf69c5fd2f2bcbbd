// SPDX-License-Identifier: Apache-2.0
// Tests of the guard every strategy's run() uses: nothing escapes, each exception becomes an error.
#include <reckon/strategy/detail/guarded_run.hpp>

#include <support/catch.hpp>

#include <new>
#include <stdexcept>

using namespace reckon;

TEST_CASE("guarded_run turns every exception into an error result", "[strategy][errors]") {
  auto ok = detail::guarded_run("s", []() -> result<int> { return 7; });
  REQUIRE(ok);
  CHECK(*ok == 7);

  auto own = detail::guarded_run("s", []() -> result<int> { throw exception(errc::invalid_argument, "bad n"); });
  REQUIRE_FALSE(own);
  CHECK(own.error().code == errc::invalid_argument);
  CHECK(own.error().message == "bad n");

  auto user = detail::guarded_run("majority", []() -> result<int> { throw std::runtime_error("key broke"); });
  REQUIRE_FALSE(user);
  CHECK(user.error().code == errc::engine_failure);
  CHECK(user.error().message == "majority: threw: key broke");

  auto oom = detail::guarded_run("s", []() -> result<int> { throw std::bad_alloc(); });
  REQUIRE_FALSE(oom);
  CHECK(oom.error().code == errc::engine_failure);

  auto odd = detail::guarded_run("s", []() -> result<int> { throw 42; });
  REQUIRE_FALSE(odd);
  CHECK(odd.error().message == "s: threw a non-standard exception");
}

TEST_CASE("checked_run validates before running the body", "[strategy][errors]") {
  int ran = 0;
  auto bad = detail::checked_run(
      "s", []() -> result<void> { return fail(errc::invalid_argument, "n must be > 0"); },
      [&]() -> result<int> { return ++ran; });
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_argument);
  CHECK(ran == 0);
  auto good = detail::checked_run("s", []() -> result<void> { return {}; }, [&]() -> result<int> { return ++ran; });
  REQUIRE(good);
  CHECK(*good == 1);
}
