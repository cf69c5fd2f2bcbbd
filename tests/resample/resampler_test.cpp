// SPDX-License-Identifier: Apache-2.0
// Statistical and edge-case tests of the four resampling schemes, the runtime choice and triggers.
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/trigger.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
const reckon::resampling_scheme all_schemes[] = {reckon::resampling_scheme::multinomial,
                                                  reckon::resampling_scheme::systematic,
                                                  reckon::resampling_scheme::stratified,
                                                  reckon::resampling_scheme::residual};

struct offspring_stats {
  std::vector<double> mean;     // per ancestor, over replications
  std::vector<double> variance; // per ancestor, over replications
  double total_variance = 0.0;  // sum over ancestors
};

/// Offspring counts of each ancestor over `reps` resamplings of n offspring, on one fixed stream.
offspring_stats offspring(reckon::resampling_scheme scheme, const std::vector<double>& w, std::size_t n,
                          std::size_t reps, std::uint32_t stream_id) {
  reckon::random_stream rng(2026, 3, stream_id, 0);
  std::vector<double> sum(w.size()), sum_sq(w.size());
  std::vector<std::size_t> ancestors(n), counts(w.size());
  for (std::size_t r = 0; r < reps; ++r) {
    reckon::resample(scheme, w, ancestors, rng);
    std::fill(counts.begin(), counts.end(), 0);
    for (const std::size_t a : ancestors) ++counts.at(a);
    for (std::size_t i = 0; i < w.size(); ++i) {
      sum[i] += static_cast<double>(counts[i]);
      sum_sq[i] += static_cast<double>(counts[i] * counts[i]);
    }
  }
  offspring_stats s;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double m = sum[i] / static_cast<double>(reps);
    s.mean.push_back(m);
    s.variance.push_back(sum_sq[i] / static_cast<double>(reps) - m * m);
    s.total_variance += s.variance.back();
  }
  return s;
}

} // namespace

TEST_CASE("every scheme gives ancestor i n*w_i offspring on average", "[resample][statistics]") {
  // Unnormalised weights (sum 20); n = 10 offspring, so n*w_i = {0.5, 1, 2, 3, 3.5}.
  const std::vector<double> w{1.0, 2.0, 4.0, 6.0, 7.0};
  const std::size_t n = 10;
  const std::size_t reps = 20000;
  for (const auto scheme : all_schemes) {
    INFO("scheme " << reckon::to_string(scheme));
    const auto s = offspring(scheme, w, n, reps, static_cast<std::uint32_t>(scheme));
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double expected = static_cast<double>(n) * w[i] / 20.0;
      // z-test on the mean count with the empirical standard error; |z| < 5 fails by chance with
      // probability < 6e-7 per check (fixed seed: the outcome is deterministic anyway).
      const double se = std::sqrt(s.variance[i] / static_cast<double>(reps));
      INFO("ancestor " << i << " mean " << s.mean[i] << " expected " << expected << " se " << se);
      CHECK(std::abs(s.mean[i] - expected) <= 5.0 * se + 1e-12);
    }
  }
}

TEST_CASE("multinomial counts have the multinomial variance; the others have less", "[resample][statistics]") {
  const std::vector<double> w{1.0, 2.0, 4.0, 6.0, 7.0};
  const std::size_t n = 10;
  const std::size_t reps = 20000;
  const auto multi = offspring(reckon::resampling_scheme::multinomial, w, n, reps, 10);
  double theory = 0.0; // sum_i n p_i (1 - p_i)
  for (const double x : w) theory += static_cast<double>(n) * (x / 20.0) * (1.0 - x / 20.0);
  // The variance estimate over 20000 replications is within 5% of the truth (its relative
  // standard error here is about 1%).
  CHECK(std::abs(multi.total_variance - theory) <= 0.05 * theory);
  const auto sys = offspring(reckon::resampling_scheme::systematic, w, n, reps, 11);
  const auto strat = offspring(reckon::resampling_scheme::stratified, w, n, reps, 12);
  const auto resid = offspring(reckon::resampling_scheme::residual, w, n, reps, 13);
  INFO("multinomial " << multi.total_variance << " systematic " << sys.total_variance << " stratified "
                      << strat.total_variance << " residual " << resid.total_variance);
  // Margins far above the estimates' noise: theory 7.05 vs about 1.0-2.1 for the others.
  CHECK(sys.total_variance < 0.5 * multi.total_variance);
  CHECK(strat.total_variance < 0.5 * multi.total_variance);
  CHECK(resid.total_variance < 0.5 * multi.total_variance);
  // Systematic gives each ancestor floor(n w_i) or ceil(n w_i) offspring: n w_1 = 1 exactly.
  CHECK(sys.variance[1] == 0.0);
}

TEST_CASE("schemes never pick a zero weight and return sorted, in-range ancestors", "[resample]") {
  const std::vector<double> w{0.0, 1.0, 0.0, 0.0, 2.0, 0.0};
  for (const auto scheme : all_schemes) {
    INFO("scheme " << reckon::to_string(scheme));
    reckon::random_stream rng(7, 7, 0, 0);
    for (int r = 0; r < 500; ++r) {
      std::vector<std::size_t> a(9);
      reckon::resample(scheme, w, a, rng);
      CHECK(std::is_sorted(a.begin(), a.end()));
      for (const std::size_t i : a) CHECK((i == 1 || i == 4));
    }
    // A single positive weight takes every offspring.
    std::vector<std::size_t> one(5);
    reckon::resample(scheme, std::vector<double>{0.0, 0.0, 3.0}, one, rng);
    CHECK(std::count(one.begin(), one.end(), std::size_t{2}) == 5);
  }
}

TEST_CASE("schemes are deterministic given the stream and can change the population size", "[resample]") {
  const std::vector<double> w{0.3, 0.1, 0.6};
  for (const auto scheme : all_schemes) {
    reckon::random_stream a(1, 2, 3, 4);
    reckon::random_stream b(1, 2, 3, 4);
    std::vector<std::size_t> x(17), y(17);
    reckon::resample(scheme, w, x, a);
    reckon::resample(scheme, w, y, b);
    CHECK(x == y);
    CHECK(a == b);
  }
  reckon::random_stream rng(5, 5);
  CHECK(reckon::systematic_resampler{}(w, 1000, rng).size() == 1000);
  CHECK(reckon::multinomial_resampler{}(w, 1, rng).size() == 1);
}

TEST_CASE("resampling from log-weights near exp(-1000)", "[resample]") {
  const std::vector<double> lw{-1000.0, -1000.0 - std::log(3.0), -inf};
  reckon::random_stream rng(9, 9);
  std::size_t first = 0;
  for (int r = 0; r < 200; ++r) {
    const auto a = reckon::resample_log_weights(reckon::systematic_resampler{}, lw, 8, rng);
    for (const std::size_t i : a) CHECK(i < 2);
    first += static_cast<std::size_t>(std::count(a.begin(), a.end(), std::size_t{0}));
  }
  // Systematic: 8 * 0.75 = 6 copies of ancestor 0 every time.
  CHECK(first == 200 * 6);
}

TEST_CASE("schemes reject bad weights and n = 0", "[resample][errors]") {
  reckon::random_stream rng;
  std::vector<std::size_t> out(4);
  std::vector<std::size_t> none;
  for (const auto scheme : all_schemes) {
    INFO("scheme " << reckon::to_string(scheme));
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{}, out, rng), reckon::exception);
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{1.0, std::nan("")}, out, rng), reckon::exception);
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{1.0, inf}, out, rng), reckon::exception);
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{1.0, -1.0}, out, rng), reckon::exception);
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{0.0, 0.0}, out, rng), reckon::exception);
    CHECK_THROWS_AS(reckon::resample(scheme, std::vector<double>{1.0, 1.0}, none, rng), reckon::exception);
  }
  CHECK_THROWS_AS(reckon::resample_log_weights(reckon::residual_resampler{}, std::vector<double>{-inf}, 3, rng),
                  reckon::exception);
}

TEST_CASE("resampling schemes parse from and print to their names", "[resample]") {
  for (const auto scheme : all_schemes) CHECK(reckon::parse_resampling_scheme(reckon::to_string(scheme)) == scheme);
  CHECK_FALSE(reckon::parse_resampling_scheme("bogus").has_value());
}

TEST_CASE("triggers: always, and ESS below a fraction of n", "[resample][trigger]") {
  const std::vector<double> even{1.0, 1.0, 1.0, 1.0};
  const std::vector<double> skewed{100.0, 1.0, 1.0, 1.0}; // ESS = 103^2 / 10003 ~ 1.06
  CHECK(reckon::always_resample{}(even));
  CHECK_FALSE(reckon::ess_below{0.5}(even));
  CHECK(reckon::ess_below{0.5}(skewed));
  CHECK_FALSE(reckon::ess_below{0.0}(skewed));
  CHECK_FALSE(reckon::ess_below{1.0}(even)); // ESS = n exactly is not below n
  CHECK_THROWS_AS(reckon::ess_below{1.5}(even), reckon::exception);
  CHECK_THROWS_AS(reckon::ess_below{std::nan("")}(even), reckon::exception);
  CHECK_THROWS_AS(reckon::ess_below{0.5}(std::vector<double>{}), reckon::exception);
  CHECK_THROWS_AS(reckon::always_resample{}(std::vector<double>{0.0}), reckon::exception);
}
