// SPDX-License-Identifier: Apache-2.0
// The fused sampler against an exact inverse CDF, a chi-square test, and hostile rows, for every kernel.
#include <reckon/numerics/sample_row.hpp>
#include <reckon/random/stream.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace {

using reckon::detail::kernel;
constexpr float ninf = -std::numeric_limits<float>::infinity();

std::vector<kernel> sampler_kernels() {
  std::vector<kernel> ks{kernel::portable};
  if (reckon::detail::kernel_available(kernel::avx2)) ks.push_back(kernel::avx2);
  if (reckon::detail::kernel_available(kernel::avx512)) ks.push_back(kernel::avx512);
  return ks;
}

reckon::row_draw draw_with(const std::vector<float>& row, double u, const reckon::row_sampling_params& p, kernel k,
                           const reckon::token_stats_params& stats = {}) {
  return reckon::detail::sample_row_impl(row, u, p, stats, {}, {}, k);
}

// The exact inverse CDF in id order, in long double (today's rule, without its rounding).
struct exact_cdf {
  std::vector<long double> cum;
  exact_cdf(const std::vector<float>& x, double t) : cum(x.size()) {
    long double m = -INFINITY;
    for (const float v : x) m = std::max<long double>(m, v);
    long double z = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i] != ninf) z += std::exp((static_cast<long double>(x[i]) - m) / t);
      cum[i] = z;
    }
  }
  // How far (in probability mass) token `id`'s CDF interval lies from u.
  [[nodiscard]] long double miss(std::size_t id, double u) const {
    const long double target = static_cast<long double>(u) * cum.back();
    const long double lo = id == 0 ? 0.0L : cum[id - 1], hi = cum[id];
    return std::max({0.0L, lo - target, target - hi}) / cum.back();
  }
  [[nodiscard]] std::size_t draw(double u) const {
    const auto at = std::upper_bound(cum.begin(), cum.end(), static_cast<long double>(u) * cum.back()) - cum.begin();
    return std::min(static_cast<std::size_t>(at), cum.size() - 1);
  }
};

// The exact nucleus draw: sort by probability (ties by id), keep the fewest reaching top_p, invert.
struct exact_nucleus {
  std::vector<std::size_t> ids;
  std::vector<long double> w;
  long double z = 0;
  exact_nucleus(const std::vector<float>& x, double t) : ids(x.size()), w(x.size()) {
    std::iota(ids.begin(), ids.end(), std::size_t{0});
    std::sort(ids.begin(), ids.end(), [&](std::size_t a, std::size_t b) { return x[a] != x[b] ? x[a] > x[b] : a < b; });
    const long double m = x[ids[0]];
    for (std::size_t i = 0; i < ids.size(); ++i) z += w[i] = std::exp((static_cast<long double>(x[ids[i]]) - m) / t);
  }
  [[nodiscard]] std::size_t draw(double u, double top_p) const {
    long double mass = 0;
    std::size_t keep = 0;
    while (keep < ids.size()) {
      mass += w[keep++];
      if (mass >= top_p * z) break;
    }
    const long double target = u * mass;
    long double running = 0;
    for (std::size_t i = 0; i < keep; ++i) {
      running += w[i];
      if (target < running) return ids[i];
    }
    return ids[keep - 1];
  }
};

// LLM-like logits: N(0, 2.5) noise and a few tokens well above it.
std::vector<float> llm_row(std::size_t vocab, std::uint64_t seed) {
  reckon::random_stream s(reckon::stream_key{.seed = seed, .problem = vocab});
  std::vector<float> row(vocab);
  for (auto& v : row) {
    const double u1 = 1.0 - reckon::uniform01(s), u2 = reckon::uniform01(s);
    v = static_cast<float>(2.5 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  for (int h = 0; h < 5; ++h) row[static_cast<std::size_t>(reckon::uniform01(s) * static_cast<double>(vocab))] += 9.0f + 2.0f * h;
  return row;
}

} // namespace

TEST_CASE("sample_row agrees with the exact inverse CDF but for rounding at CDF boundaries", "[numerics][sample_row]") {
  // The draw's CDF carries the exp2 polynomial's and the float lane sums' relative error (~1e-7),
  // so a uniform within that distance of one of the V boundaries can land on a neighbour: the
  // expected fraction is about V x 1e-7. Measured at V = 20000 over 1200 draws per kernel and
  // temperature: 0 to 4 draws (at most 0.3%), each within 1e-6 (AVX-512: 1e-5) of the mass of the exact token.
  for (const double t : {1.0, 0.7, 1.6}) {
    std::vector<std::size_t> differ(3, 0), far(3, 0); // far: more than the kernel's exp2 error of the mass away
    std::size_t draws = 0;
    for (std::uint64_t r = 0; r < 3; ++r) {
      const auto row = llm_row(20000 + 3 * r, 11 + r);
      const exact_cdf exact(row, t);
      reckon::random_stream s(reckon::stream_key{.seed = 5, .problem = r});
      for (int i = 0; i < 400; ++i) {
        const double u = reckon::uniform01(s);
        const std::size_t want = exact.draw(u);
        ++draws;
        const auto ks = sampler_kernels();
        for (std::size_t j = 0; j < ks.size(); ++j) {
          const std::size_t got = draw_with(row, u, {.temperature = t}, ks[j]).token;
          differ[j] += got != want ? 1 : 0;
          // The AVX-512 exp2 is degree 4 (relative error 3e-6), the others degree 5 (2e-7; 2.5e-7 portable without FMA).
          far[j] += exact.miss(got, u) > (ks[j] == kernel::avx512 ? 1e-5L : 1e-6L) ? 1 : 0;
        }
      }
    }
    for (std::size_t j = 0; j < sampler_kernels().size(); ++j) {
      INFO("kernel " << j << " T " << t << ": " << differ[j] << " of " << draws << " differ");
      CHECK(static_cast<double>(differ[j]) <= 0.005 * static_cast<double>(draws));
      CHECK(far[j] == 0);
    }
  }
}

TEST_CASE("sample_row follows the softmax: chi-square at fixed seeds", "[numerics][sample_row][statistics]") {
  // 40 tokens over two blocks and a short third one of masked filler, so that block selection is exercised.
  std::vector<float> row(2 * reckon::detail::block_floats + 300, ninf);
  std::vector<std::size_t> live;
  for (std::size_t j = 0; j < 40; ++j) {
    const std::size_t at = (j % 3) * reckon::detail::block_floats + j * 7;
    row[at] = static_cast<float>(0.15 * static_cast<double>(j % 13)) - 1.0f;
    live.push_back(at);
  }
  for (const kernel k : sampler_kernels()) {
    for (const double t : {1.0, 0.5}) {
      if (t != 1.0 && k == kernel::portable) continue; // the portable kernel at T = 1 only: Debug time
      std::vector<double> p(live.size());
      double z = 0;
      for (std::size_t j = 0; j < live.size(); ++j) z += p[j] = std::exp(static_cast<double>(row[live[j]]) / t);
      std::vector<int> count(live.size(), 0);
      reckon::random_stream s(reckon::stream_key{.seed = 2026, .problem = 40});
      const int n = 6000;
      for (int i = 0; i < n; ++i) {
        const auto got = draw_with(row, reckon::uniform01(s), {.temperature = t}, k);
        const auto it = std::find(live.begin(), live.end(), got.token);
        REQUIRE(it != live.end()); // a masked token is never drawn
        ++count[static_cast<std::size_t>(it - live.begin())];
      }
      double chi2 = 0;
      for (std::size_t j = 0; j < live.size(); ++j) {
        const double e = n * p[j] / z;
        chi2 += (count[j] - e) * (count[j] - e) / e;
      }
      // 39 degrees of freedom: the 99.9% quantile is 72.1.
      CHECK(chi2 < 72.1);
    }
  }
}

TEST_CASE("sample_row: the statistics are token_row_stats' for the drawn token", "[numerics][sample_row]") {
  const auto row = llm_row(9000, 3);
  for (const kernel k : sampler_kernels()) {
    for (const double ts : {1.0, 0.8}) {
      std::vector<std::int32_t> ids(5), ref_ids(5);
      std::vector<float> lps(5), ref_lps(5);
      const auto got = reckon::detail::sample_row_impl(row, 0.37, {.temperature = 0.6}, {.temperature = ts}, ids, lps, k);
      const auto ref = reckon::detail::row_stats_impl(row, got.token, {.temperature = ts}, ref_ids, ref_lps, k, "t");
      CHECK(got.stats.log_sum_exp == ref.log_sum_exp);
      CHECK(got.stats.entropy == ref.entropy);
      CHECK(got.stats.varentropy == ref.varentropy);
      CHECK(got.stats.logprob == reckon::test::Approx(ref.logprob).margin(1e-12));
      CHECK(ids == ref_ids);
      CHECK(lps == ref_lps);
    }
  }
}

TEST_CASE("sample_row: greedy, ties, nearly one-hot rows and masked entries", "[numerics][sample_row]") {
  for (const kernel k : sampler_kernels()) {
    // Greedy takes the first maximum, also across blocks.
    std::vector<float> row(2 * reckon::detail::block_floats + 5, -3.0f);
    row[reckon::detail::block_floats + 9] = 4.0f;
    row[reckon::detail::block_floats + 20] = 4.0f;
    CHECK(draw_with(row, 0.9, {.temperature = 0.0}, k).token == reckon::detail::block_floats + 9);
    // All tied: uniform over the row.
    const std::vector<float> flat(64, 1.5f);
    CHECK(draw_with(flat, 0.0, {}, k).token == 0);
    CHECK(draw_with(flat, 0.999, {}, k).token == 63);
    CHECK(draw_with(flat, 0.5, {}, k).token == 32);
    // Nearly one-hot: the hot token for all but a sliver of u.
    std::vector<float> hot(30000, 0.0f);
    hot[12345] = 40.0f;
    int hits = 0;
    for (int i = 0; i < 100; ++i) hits += draw_with(hot, (i + 0.5) / 100.0, {}, k).token == 12345 ? 1 : 0;
    CHECK(hits == 100);
    // Only one unmasked entry: always drawn, whatever u.
    std::vector<float> masked(5000, ninf);
    masked[4321] = -80.0f;
    CHECK(draw_with(masked, 0.0, {}, k).token == 4321);
    CHECK(draw_with(masked, 0.999999, {.temperature = 3.0}, k).token == 4321);
    CHECK(draw_with(masked, 0.5, {.temperature = 0.0}, k).token == 4321);
  }
}

TEST_CASE("sample_row: top-p is the exact nucleus, top-k draws within the k best", "[numerics][sample_row]") {
  for (const kernel k : sampler_kernels()) {
    const auto row = llm_row(30000, 17);
    const exact_nucleus exact(row, 0.8);
    std::size_t differ = 0;
    reckon::random_stream s(reckon::stream_key{.seed = 8, .problem = 3});
    for (int i = 0; i < 100; ++i) {
      const double u = reckon::uniform01(s);
      for (const double p : {0.5, 0.9, 0.95})
        differ += draw_with(row, u, {.temperature = 0.8, .top_p = p}, k).token != exact.draw(u, p) ? 1 : 0;
    }
    CHECK(differ <= 1);
    // A flat row: the nucleus holds thousands of tokens (the widening path).
    std::vector<float> flat(20000);
    for (std::size_t i = 0; i < flat.size(); ++i) flat[i] = static_cast<float>((i * 37) % 101) * 1e-3f;
    const exact_nucleus flat_exact(flat, 1.0);
    for (const double u : {0.01, 0.5, 0.97}) CHECK(draw_with(flat, u, {.top_p = 0.9}, k).token == flat_exact.draw(u, 0.9));
    // top-k: among the k best only; with k = 1 it is greedy.
    std::vector<std::size_t> ids(row.size());
    std::iota(ids.begin(), ids.end(), std::size_t{0});
    std::partial_sort(ids.begin(), ids.begin() + 3, ids.end(), [&](std::size_t a, std::size_t b) { return row[a] > row[b]; });
    for (const double u : {0.0, 0.3, 0.6, 0.99}) {
      const auto t3 = draw_with(row, u, {.temperature = 5.0, .top_k = 3}, k).token;
      CHECK((t3 == ids[0] || t3 == ids[1] || t3 == ids[2]));
      CHECK(draw_with(row, u, {.temperature = 5.0, .top_k = 1}, k).token == ids[0]);
    }
  }
}

TEST_CASE("sample_row is a function of the row and u alone", "[numerics][sample_row]") {
  const auto row = llm_row(40000, 21);
  for (const double u : {0.1, 0.45, 0.8}) {
    const auto a = reckon::sample_row(row, u, {.temperature = 0.9});
    const auto b = reckon::sample_row(row, u, {.temperature = 0.9});
    CHECK(a.token == b.token);
    CHECK(a.stats == b.stats);
  }
}

TEST_CASE("sample_row rejects bad input clearly", "[numerics][sample_row][errors]") {
  const std::vector<float> row{0.0f, 1.0f, 2.0f};
  auto code = [](auto f) {
    try {
      f();
    } catch (const reckon::exception& e) {
      return e.code();
    }
    return reckon::errc::engine_failure; // "did not throw"
  };
  using reckon::errc;
  CHECK(code([&] { (void)reckon::sample_row({}, 0.5); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 1.0); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, -0.1); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, std::nan("")); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 0.5, {.temperature = -1.0}); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 0.5, {.temperature = INFINITY}); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 0.5, {.top_p = 0.0}); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 0.5, {.top_p = 1.5}); }) == errc::invalid_argument);
  CHECK(code([&] { (void)reckon::sample_row(row, 0.5, {.top_k = 4}); }) == errc::invalid_argument);
  const std::vector<float> nan_row{0.0f, std::nanf(""), 1.0f};
  CHECK(code([&] { (void)reckon::sample_row(nan_row, 0.5); }) == errc::invalid_argument);
  const std::vector<float> masked(4, ninf);
  CHECK(code([&] { (void)reckon::sample_row(masked, 0.5); }) == errc::invalid_argument);
  const std::vector<float> plus_inf{0.0f, INFINITY};
  CHECK(code([&] { (void)reckon::sample_row(plus_inf, 0.5, {.temperature = 0.0}); }) == errc::invalid_argument);
}
