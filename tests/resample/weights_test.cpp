// SPDX-License-Identifier: Apache-2.0
// Tests of weight normalisation (plain and from log-weights), effective sample size, and bad input.
#include <reckon/resample/weights.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
bool close(double a, double b, double tol = 1e-12) { return std::abs(a - b) <= tol * (1.0 + std::abs(b)); }
} // namespace

TEST_CASE("normalise_weights divides by the sum", "[resample][weights]") {
  const std::vector<double> w{1.0, 3.0, 0.0, 4.0};
  const auto p = reckon::normalise_weights(w);
  CHECK(close(p[0], 0.125));
  CHECK(close(p[1], 0.375));
  CHECK(p[2] == 0.0);
  CHECK(close(p[3], 0.5));
}

TEST_CASE("normalise_log_weights shifts by the maximum", "[resample][weights]") {
  // Weights near exp(-1000): exp() alone would underflow to 0 for all of them.
  const std::vector<double> lw{-1000.0, -1001.0, -1002.0, -inf};
  std::vector<double> p(lw.size());
  const double log_z = reckon::normalise_log_weights(lw, p);
  const double z = 1.0 + std::exp(-1.0) + std::exp(-2.0);
  CHECK(close(p[0], 1.0 / z));
  CHECK(close(p[1], std::exp(-1.0) / z));
  CHECK(close(p[2], std::exp(-2.0) / z));
  CHECK(p[3] == 0.0);
  CHECK(close(log_z, -1000.0 + std::log(z)));
  // And near exp(+1000), where exp() alone overflows.
  const auto q = reckon::normalise_log_weights(std::vector<double>{1000.0, 1000.0});
  CHECK(close(q[0], 0.5));
}

TEST_CASE("effective sample size is n for equal weights and 1 for one survivor", "[resample][weights]") {
  CHECK(close(reckon::effective_sample_size(std::vector<double>{2.0, 2.0, 2.0, 2.0}), 4.0));
  CHECK(close(reckon::effective_sample_size(std::vector<double>{0.0, 5.0, 0.0}), 1.0));
  // (1 + 3)^2 / (1 + 9) = 1.6, whatever the scale, even at 1e300 (the squares would overflow).
  CHECK(close(reckon::effective_sample_size(std::vector<double>{1.0, 3.0}), 1.6));
  CHECK(close(reckon::effective_sample_size(std::vector<double>{1e300, 3e300}), 1.6));
  CHECK(close(reckon::effective_sample_size(std::vector<double>{1e-310, 3e-310}), 1.6, 1e-9));
  CHECK(close(reckon::effective_sample_size_log(std::vector<double>{-1000.0, -1000.0 + std::log(3.0)}), 1.6, 1e-9));
}

TEST_CASE("bad weights are rejected with invalid_argument", "[resample][weights][errors]") {
  const std::vector<double> empty;
  CHECK_THROWS_AS(reckon::normalise_weights(empty), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{1.0, std::nan("")}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{1.0, inf}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{1.0, -0.1}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{0.0, 0.0}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{1e308, 1e308}), reckon::exception); // sum overflows
  std::vector<double> short_out(1);
  CHECK_THROWS_AS(reckon::normalise_weights(std::vector<double>{1.0, 2.0}, short_out), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_log_weights(std::vector<double>{1.0, 2.0}, short_out), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_log_weights(empty), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_log_weights(std::vector<double>{0.0, std::nan("")}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_log_weights(std::vector<double>{0.0, inf}), reckon::exception);
  CHECK_THROWS_AS(reckon::normalise_log_weights(std::vector<double>{-inf, -inf}), reckon::exception);
  CHECK_THROWS_AS(reckon::effective_sample_size(empty), reckon::exception);
  CHECK_THROWS_AS(reckon::effective_sample_size(std::vector<double>{0.0}), reckon::exception);
  try {
    (void)reckon::normalise_weights(std::vector<double>{0.0, 0.0});
    FAIL("no exception");
  } catch (const reckon::exception& e) {
    CHECK(e.code() == reckon::errc::invalid_argument);
    CHECK(std::string(e.what()).find("all zero") != std::string::npos);
  }
}
