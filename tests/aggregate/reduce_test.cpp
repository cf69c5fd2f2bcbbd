// SPDX-License-Identifier: Apache-2.0
// Tests of the PRM step-score reductions: values, log-space product, runtime choice, bad input.
#include <reckon/aggregate/reduce.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {
bool close(double a, double b) { return std::abs(a - b) <= 1e-12 * (1.0 + std::abs(b)); }
} // namespace

TEST_CASE("last, min, prod and mean of step scores", "[aggregate][reduce]") {
  const std::vector<double> s{0.9, 0.5, 0.8};
  CHECK(reckon::reduce_last{}(s) == 0.8);
  CHECK(reckon::reduce_min{}(s) == 0.5);
  CHECK(close(reckon::reduce_prod{}(s), 0.36));
  CHECK(close(reckon::reduce_log_prod{}(s), std::log(0.36)));
  CHECK(close(reckon::reduce_mean{}(s), 2.2 / 3.0));
  const std::vector<double> one{0.25};
  for (const auto r : {reckon::step_reduction::last, reckon::step_reduction::min, reckon::step_reduction::prod,
                       reckon::step_reduction::mean})
    CHECK(close(reckon::reduce_steps(r, one), 0.25));
  CHECK(close(reckon::reduce_steps(reckon::step_reduction::mean, s), 2.2 / 3.0));
}

TEST_CASE("the product is taken in log space", "[aggregate][reduce]") {
  // 400 steps at 0.1: the product 1e-400 underflows, its log does not.
  const std::vector<double> tiny(400, 0.1);
  CHECK(close(reckon::reduce_log_prod{}(tiny), 400.0 * std::log(0.1)));
  CHECK(reckon::reduce_prod{}(tiny) == 0.0);
  // A zero step makes the log-product -inf (the solution ranks last), not NaN.
  const std::vector<double> zero{0.9, 0.0};
  CHECK(reckon::reduce_log_prod{}(zero) == -std::numeric_limits<double>::infinity());
  CHECK(reckon::reduce_prod{}(zero) == 0.0);
}

TEST_CASE("step reductions parse from and print to their names", "[aggregate][reduce]") {
  for (const auto r : {reckon::step_reduction::last, reckon::step_reduction::min, reckon::step_reduction::prod,
                       reckon::step_reduction::mean})
    CHECK(reckon::parse_step_reduction(reckon::to_string(r)) == r);
  CHECK_FALSE(reckon::parse_step_reduction("max").has_value());
}

TEST_CASE("bad step scores are rejected with invalid_argument", "[aggregate][reduce][errors]") {
  const std::vector<double> empty;
  const std::vector<double> nan{0.5, std::nan("")};
  const std::vector<double> big{0.5, 1.5};
  const std::vector<double> neg{-0.1};
  const std::vector<double> inf{std::numeric_limits<double>::infinity()};
  for (const auto r : {reckon::step_reduction::last, reckon::step_reduction::min, reckon::step_reduction::prod,
                       reckon::step_reduction::mean}) {
    INFO(reckon::to_string(r));
    CHECK_THROWS_AS(reckon::reduce_steps(r, empty), reckon::exception);
    CHECK_THROWS_AS(reckon::reduce_steps(r, nan), reckon::exception);
    CHECK_THROWS_AS(reckon::reduce_steps(r, big), reckon::exception);
    CHECK_THROWS_AS(reckon::reduce_steps(r, neg), reckon::exception);
    CHECK_THROWS_AS(reckon::reduce_steps(r, inf), reckon::exception);
  }
  CHECK_THROWS_AS(reckon::reduce_log_prod{}(empty), reckon::exception);
  try {
    (void)reckon::reduce_min{}(nan);
    FAIL("no exception");
  } catch (const reckon::exception& e) {
    CHECK(e.code() == reckon::errc::invalid_argument);
    CHECK(std::string(e.what()).find("reduce_min") != std::string::npos);
  }
}
