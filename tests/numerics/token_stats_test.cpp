// SPDX-License-Identifier: Apache-2.0
// Token statistics of logits rows against a long-double two-pass reference, for every kernel.
#include <reckon/numerics/token_stats.hpp>
#include <reckon/random/stream.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <numeric>
#include <string>
#include <vector>

namespace {

using reckon::row_stats;
using reckon::detail::kernel;
constexpr float ninf = -std::numeric_limits<float>::infinity();

// The reference: max, then long-double sums over the tempered distribution; H first, then VE as
// sum p (log p + H)^2 (the two-pass form, which does not cancel).
struct reference {
  long double lse = 0, logprob = 0, entropy = 0, varentropy = 0;
};
reference reference_stats(const std::vector<float>& x, std::size_t chosen, long double t) {
  long double m = -INFINITY;
  for (const float v : x) m = std::max<long double>(m, v);
  long double z = 0;
  for (const float v : x)
    if (v != ninf) z += std::exp((static_cast<long double>(v) - m) / t);
  const long double lz = std::log(z);
  reference r;
  r.lse = m + t * lz;
  r.logprob = x[chosen] == ninf ? -INFINITY : (static_cast<long double>(x[chosen]) - m) / t - lz;
  for (const float v : x) {
    if (v == ninf) continue;
    const long double lp = (static_cast<long double>(v) - m) / t - lz;
    r.entropy -= std::exp(lp) * lp;
  }
  for (const float v : x) {
    if (v == ninf) continue;
    const long double lp = (static_cast<long double>(v) - m) / t - lz;
    r.varentropy += std::exp(lp) * (lp + r.entropy) * (lp + r.entropy);
  }
  return r;
}

std::vector<kernel> kernels_here() {
  std::vector<kernel> ks{kernel::portable};
  if (reckon::detail::kernel_available(kernel::avx2)) ks.push_back(kernel::avx2);
  if (reckon::detail::kernel_available(kernel::avx512)) ks.push_back(kernel::avx512);
  return ks;
}

const char* name(kernel k) {
  switch (k) {
  case kernel::portable: return "portable";
  case kernel::avx2: return "avx2";
  case kernel::avx512: return "avx512";
  default: return "automatic";
  }
}

row_stats run(const std::vector<float>& x, std::size_t chosen, double t, kernel k) {
  return reckon::detail::row_stats_impl(x, chosen, {.temperature = t}, {}, {}, k, "test");
}

// Tolerances, from the error budget in token_stats.hpp: exp2 weights carry relative error <= 3e-6
// (AVX-512; 2e-7 for the others) and the float lane sums ~1e-6 relative. So log Z is good to ~5e-6,
// which bounds the error of lse / T and of every logprob; H to 1e-5 relative plus 5e-6 absolute
// (weight errors move H by at most ~their size; the maximum's own float lane absorbs tail mass
// below 6e-8 of it); VE to 1e-4 relative plus 1e-9 absolute (its cancellation factor is bounded
// by the block-max centring).
void check(const std::vector<float>& x, std::size_t chosen, double t, const std::string& what) {
  const reference ref = reference_stats(x, chosen, t);
  for (const kernel k : kernels_here()) {
    INFO(what << " kernel=" << name(k) << " T=" << t << " n=" << x.size());
    const row_stats s = run(x, chosen, t, k);
    const double lse = static_cast<double>(ref.lse);
    CHECK(std::abs(s.log_sum_exp - lse) <= 1e-5 * t + 1e-12 * std::abs(lse));
    if (ref.logprob == -INFINITY) {
      CHECK(s.logprob == -std::numeric_limits<double>::infinity());
    } else {
      const double lp = static_cast<double>(ref.logprob);
      CHECK(std::abs(s.logprob - lp) <= 1e-5 + 1e-12 * std::abs(lp));
    }
    const double h = static_cast<double>(ref.entropy);
    CHECK(std::abs(s.entropy - h) <= 1e-5 * h + 5e-6);
    const double ve = static_cast<double>(ref.varentropy);
    CHECK(std::abs(s.varentropy - ve) <= 1e-4 * ve + 1e-9);
    CHECK(s.entropy >= 0.0);
    CHECK(s.varentropy >= 0.0);
  }
}

std::vector<float> normal_row(std::size_t n, double mean, double sd, std::uint32_t seed) {
  reckon::random_stream s(reckon::stream_key{.seed = 7, .problem = n, .particle = seed});
  std::vector<float> x(n);
  for (auto& v : x) {
    const double u1 = 1.0 - reckon::uniform01(s), u2 = reckon::uniform01(s);
    v = static_cast<float>(mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return x;
}

} // namespace

TEST_CASE("token_row_stats matches the reference on random rows of awkward sizes", "[numerics][token_stats]") {
  // Sizes around the 8- and 16-lane widths and the 4096-float block, plus a real vocabulary.
  const std::size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4095, 4096, 4097, 8193, 32000, 152064};
  std::uint32_t seed = 0;
  for (const std::size_t n : sizes)
    for (const double sd : {0.1, 1.0, 3.0, 10.0})
      for (const double t : {1.0, 0.7, 1.6}) check(normal_row(n, 0.0, sd, ++seed), n / 2, t, "normal");
}

TEST_CASE("token_row_stats handles logits of magnitude 1e4", "[numerics][token_stats]") {
  check(normal_row(10007, 1e4, 3.0, 1), 5, 1.0, "around +1e4");
  check(normal_row(10007, -1e4, 3.0, 2), 5, 1.0, "around -1e4");
  check(normal_row(10007, 0.0, 1e4, 3), 5, 1.0, "spread 1e4");
  check(normal_row(10007, 1e4, 3.0, 4), 5, 0.05, "around +1e4, T = 0.05 (the exact-frame path)");
  check(normal_row(5000, 0.0, 1e4, 5), 7, 1e3, "spread 1e4, T = 1e3");
}

TEST_CASE("token_row_stats handles masked (-inf) tokens", "[numerics][token_stats]") {
  auto x = normal_row(20000, 0.0, 2.0, 9);
  for (std::size_t i = 0; i < x.size(); i += 2) x[i] = ninf; // half masked
  check(x, 1, 1.0, "half masked");
  check(x, 0, 1.0, "chosen token masked"); // logprob -inf
  auto y = normal_row(20000, 0.0, 2.0, 10);
  std::fill(y.begin(), y.begin() + 12288, ninf); // whole blocks masked before the first finite one
  check(y, 15000, 1.0, "leading blocks masked");
  std::vector<float> one(9000, ninf);
  one[8999] = 3.5f;
  check(one, 8999, 1.0, "all but the last masked");
  const row_stats s = reckon::token_row_stats(one, 8999);
  // Masked tokens get weight <= 2^-124 relative to the maximum, not exactly 0: invisible here.
  CHECK(s.logprob == reckon::test::Approx(0.0).margin(1e-30));
  CHECK(s.entropy <= 1e-28);
  CHECK(s.varentropy <= 1e-28);
  CHECK(s.log_sum_exp == 3.5);
}

TEST_CASE("token_row_stats keeps varentropy accurate when nearly one-hot", "[numerics][token_stats]") {
  // A dominant token 10..80 nats above N(0, 1) noise, early, in the middle and in the last block:
  // VE falls to ~1e-26, and a naive E[d^2] - E[d]^2 would return noise or 0.
  for (const float spike : {10.0f, 30.0f, 60.0f, 80.0f})
    for (const std::size_t at : {std::size_t{3}, std::size_t{100000}, std::size_t{152000}}) {
      auto x = normal_row(152064, 0.0, 1.0, static_cast<std::uint32_t>(at));
      x[at] = spike;
      const reference ref = reference_stats(x, at, 1.0L);
      for (const kernel k : kernels_here()) {
        INFO("spike " << spike << " at " << at << " kernel " << name(k));
        const row_stats s = run(x, at, 1.0, k);
        // Relative accuracy however small VE gets (the budget's 1e-4, with no absolute floor).
        CHECK(std::abs(s.varentropy - static_cast<double>(ref.varentropy)) <= 1e-4 * static_cast<double>(ref.varentropy));
        CHECK(std::abs(s.entropy - static_cast<double>(ref.entropy)) <= 1e-5 * static_cast<double>(ref.entropy) + 1e-8);
        CHECK(std::abs(s.logprob - static_cast<double>(ref.logprob)) <= 1e-6);
      }
    }
  // One token barely above a flat row: VE ~ 1e-11, the cancellation-prone case for a max shift.
  std::vector<float> flat(50000, 0.0f);
  flat[777] = 1e-3f;
  check(flat, 777, 1.0, "flat with a barely higher token");
}

TEST_CASE("token_row_stats at temperatures near 0 and large", "[numerics][token_stats]") {
  const auto x = normal_row(30011, 0.0, 2.0, 21);
  for (const double t : {1e-2, 1e-4, 1e-6}) check(x, 3, t, "small T");
  for (const double t : {10.0, 1e3, 1e6}) check(x, 3, t, "large T");
  // T -> infinity: uniform; T -> 0: one-hot on the maximum.
  const row_stats u = reckon::token_row_stats(x, 3, {.temperature = 1e30});
  CHECK(std::abs(u.entropy - std::log(30011.0)) <= 5e-6);
  CHECK(u.varentropy <= 1e-12);
  const auto argmax = static_cast<std::size_t>(std::max_element(x.begin(), x.end()) - x.begin());
  const row_stats g = reckon::token_row_stats(x, argmax, {.temperature = 1e-30});
  CHECK(g.entropy <= 1e-28);
  CHECK(g.varentropy <= 1e-28);
  CHECK(g.logprob == reckon::test::Approx(0.0).margin(1e-28));
  CHECK(g.log_sum_exp == static_cast<double>(x[argmax]));
}

TEST_CASE("temperature 0 is the greedy limit, uniform over tied maxima", "[numerics][token_stats]") {
  const std::vector<float> x{1.0f, 3.0f, ninf, 3.0f, 2.0f};
  std::vector<std::int32_t> ids(3);
  std::vector<float> lps(3);
  const row_stats s = reckon::token_row_stats(x, 3, {.temperature = 0.0}, ids, lps);
  CHECK(s.log_sum_exp == 3.0);
  CHECK(s.logprob == reckon::test::Approx(-std::log(2.0)));
  CHECK(s.entropy == reckon::test::Approx(std::log(2.0)));
  CHECK(s.varentropy == 0.0);
  CHECK(ids == std::vector<std::int32_t>{1, 3, 4});
  CHECK(lps[0] == reckon::test::Approx(-std::log(2.0)));
  CHECK(lps[2] == ninf);
  CHECK(reckon::token_row_stats(x, 0, {.temperature = 0.0}).logprob == -std::numeric_limits<double>::infinity());
}

TEST_CASE("vocabulary of one token", "[numerics][token_stats]") {
  for (const kernel k : kernels_here()) {
    const row_stats s = run({-7.25f}, 0, 1.0, k);
    CHECK(s.log_sum_exp == -7.25);
    CHECK(s.logprob == 0.0);
    CHECK(s.entropy == 0.0);
    CHECK(s.varentropy == 0.0);
  }
}

TEST_CASE("top-k ids and logprobs: descending, ties by lower id", "[numerics][token_stats]") {
  auto x = normal_row(9000, 0.0, 2.0, 31);
  x[10] = x[20] = x[8990] = 9.0f; // a three-way tie at the top, spread over blocks
  x[4200] = 8.5f;
  std::vector<std::int32_t> ids(20);
  std::vector<float> lps(20);
  const row_stats s = reckon::token_row_stats(x, 10, {}, ids, lps);
  std::vector<std::int32_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return x[a] > x[b]; });
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(ids[i] == order[i]);
    CHECK(lps[i] == reckon::test::Approx(static_cast<double>(x[order[i]]) - s.log_sum_exp).margin(1e-5));
  }
  CHECK(ids[0] == 10);
  CHECK(ids[1] == 20);
  CHECK(ids[2] == 8990);
  CHECK(ids[3] == 4200);
  // k = vocabulary, with masked tokens: they come last, by id, with logprob -inf.
  const std::vector<float> y{0.5f, ninf, 2.0f, ninf, 0.5f};
  std::vector<std::int32_t> all(5);
  std::vector<float> all_lp(5);
  (void)reckon::token_row_stats(y, std::nullopt, {}, all, all_lp);
  CHECK(all == std::vector<std::int32_t>{2, 0, 4, 1, 3});
  CHECK(all_lp[3] == ninf);
  CHECK(all_lp[4] == ninf);
  // Only ids wanted.
  std::vector<std::int32_t> two(2);
  (void)reckon::token_row_stats(y, std::nullopt, {}, two, {});
  CHECK(two == std::vector<std::int32_t>{2, 0});
}

TEST_CASE("top-k of every kernel equals a stable full sort, hits crowding the SIMD filter's groups", "[numerics][token_stats]") {
  // The AVX2 filter tests 32 floats at a time and the AVX-512 one 16, then scans the group that
  // has a hit against a threshold that moves inside it: ascending rows make every element a hit,
  // coarse ties make many equal values compete for the last places, and -inf entries and lengths
  // that are not multiples of 32 reach the scalar tails.
  std::vector<std::vector<float>> rows;
  rows.push_back(normal_row(9000, 0.0, 2.0, 41));
  std::vector<float> up(4099 + 37);
  for (std::size_t i = 0; i < up.size(); ++i) up[i] = static_cast<float>(i) * 0.01f;
  rows.push_back(up);
  auto ties = normal_row(5003, 0.0, 1.5, 42);
  for (std::size_t i = 0; i < ties.size(); ++i) ties[i] = i % 7 == 3 ? ninf : std::round(ties[i] * 2.0f) / 2.0f;
  rows.push_back(ties);
  for (const auto& x : rows) {
    std::vector<std::int32_t> order(x.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return x[static_cast<std::size_t>(a)] > x[static_cast<std::size_t>(b)]; });
    for (const std::size_t k : {std::size_t{1}, std::size_t{20}, std::size_t{64}}) {
      for (const kernel kk : kernels_here()) {
        INFO("kernel " << name(kk) << " n " << x.size() << " k " << k);
        std::vector<std::int32_t> ids(k);
        std::vector<float> lps(k);
        (void)reckon::detail::row_stats_impl(x, std::nullopt, {.temperature = 0.8}, ids, lps, kk, "test");
        CHECK(std::equal(ids.begin(), ids.end(), order.begin()));
      }
    }
  }
}

TEST_CASE("invalid rows and arguments throw invalid_argument", "[numerics][token_stats]") {
  const auto throws = [](auto&& f, const std::string& needle) {
    try {
      f();
      FAIL("no exception");
    } catch (const reckon::exception& e) {
      CHECK(e.code() == reckon::errc::invalid_argument);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const kernel k : kernels_here()) {
    INFO(name(k));
    for (const std::size_t at : {std::size_t{0}, std::size_t{5000}, std::size_t{9999}}) {
      auto x = normal_row(10000, 0.0, 1.0, 41);
      x[at] = nan;
      throws([&] { (void)run(x, 0, 1.0, k); }, "logit " + std::to_string(at) + " is NaN");
      x[at] = std::numeric_limits<float>::infinity();
      throws([&] { (void)run(x, 0, 1.0, k); }, "is +inf");
    }
    // A NaN hidden in a block that is otherwise all -inf (the sweep skips such blocks).
    std::vector<float> masked(10000, ninf);
    masked[9000] = 1.0f;
    masked[17] = nan;
    throws([&] { (void)run(masked, 0, 1.0, k); }, "logit 17 is NaN");
    throws([&] { (void)run(std::vector<float>(33, ninf), 0, 1.0, k); }, "every logit is -inf");
  }
  const std::vector<float> ok{1.0f, 2.0f};
  throws([&] { (void)reckon::token_row_stats(std::vector<float>{}); }, "empty");
  throws([&] { (void)reckon::token_row_stats(ok, 2); }, "out of range");
  throws([&] { (void)reckon::token_row_stats(ok, 0, {.temperature = -1.0}); }, "temperature");
  throws([&] { (void)reckon::token_row_stats(ok, 0, {.temperature = std::nan("")}); }, "temperature");
  throws([&] { (void)reckon::token_row_stats(ok, 0, {.temperature = INFINITY}); }, "temperature");
  throws([&] { (void)reckon::token_row_stats(std::vector<float>{nan, 1.0f}, 0, {.temperature = 0.0}); }, "NaN");
  std::vector<std::int32_t> ids3(3), ids1(1);
  std::vector<float> lps2(2);
  throws([&] { (void)reckon::token_row_stats(ok, 0, {}, ids3, {}); }, "larger than the vocabulary");
  throws([&] { (void)reckon::token_row_stats(ok, 0, {}, ids1, lps2); }, "differ in length");
}

TEST_CASE("token_stats_batch fills one record per row, as the single-row call", "[numerics][token_stats]") {
  constexpr std::size_t rows = 5, vocab = 5003;
  std::vector<float> logits;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto row = normal_row(vocab, static_cast<double>(r), 2.0, 50 + static_cast<std::uint32_t>(r));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  const std::vector<std::int32_t> chosen{0, 1, 2, 3, 5002};
  std::vector<row_stats> out(rows);
  std::vector<std::int32_t> ids(rows * 4);
  std::vector<float> lps(rows * 4);
  reckon::token_stats_batch(logits, vocab, chosen, out, {.temperature = 0.8}, ids, lps);
  const Eigen::Map<const reckon::logits_matrix> map(logits.data(), rows, vocab);
  const auto via_eigen = reckon::token_stats_batch(map, chosen, {.temperature = 0.8});
  // A padded matrix (outer stride > vocab) through an Eigen::Ref with a stride.
  reckon::logits_matrix padded = reckon::logits_matrix::Constant(rows, vocab + 3, 99.0f);
  padded.leftCols(vocab) = map;
  const auto via_padded = reckon::token_stats_batch(padded.leftCols(vocab), chosen, {.temperature = 0.8});
  for (std::size_t r = 0; r < rows; ++r) {
    const std::span<const float> row(logits.data() + r * vocab, vocab);
    std::vector<std::int32_t> one_ids(4);
    std::vector<float> one_lps(4);
    const row_stats s = reckon::token_row_stats(row, static_cast<std::size_t>(chosen[r]), {.temperature = 0.8}, one_ids, one_lps);
    CHECK(out[r] == s);
    CHECK(via_eigen[r] == s);
    CHECK(via_padded[r] == s);
    CHECK(std::equal(one_ids.begin(), one_ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(r * 4)));
    CHECK(std::equal(one_lps.begin(), one_lps.end(), lps.begin() + static_cast<std::ptrdiff_t>(r * 4)));
  }
  // No chosen ids: logprob is NaN.
  reckon::token_stats_batch(logits, vocab, {}, out);
  CHECK(std::isnan(out[0].logprob));
  // Mismatches throw.
  CHECK_THROWS_AS(reckon::token_stats_batch(logits, vocab + 1, chosen, out), reckon::exception);
  CHECK_THROWS_AS(reckon::token_stats_batch(logits, vocab, std::vector<std::int32_t>{1}, out), reckon::exception);
  CHECK_THROWS_AS(reckon::token_stats_batch(logits, vocab, std::vector<std::int32_t>{0, 0, 0, 0, -1}, out), reckon::exception);
  CHECK_THROWS_AS(reckon::token_stats_batch(logits, 0, {}, out), reckon::exception);
  std::vector<std::int32_t> bad_ids(rows * 4 + 1);
  CHECK_THROWS_AS(reckon::token_stats_batch(logits, vocab, chosen, out, {}, bad_ids), reckon::exception);
}

TEST_CASE("append_token_stats fills a sequence's column store", "[numerics][token_stats]") {
  reckon::token_stats store;
  const auto a = normal_row(1000, 0.0, 2.0, 61);
  const auto b = normal_row(1000, 0.0, 2.0, 62);
  const row_stats sa = reckon::append_token_stats(store, a, 4, {}, 3);
  const row_stats sb = reckon::append_token_stats(store, b, 9, {}, 3);
  REQUIRE(store.size() == 2);
  CHECK(store.logprob == std::vector<float>{static_cast<float>(sa.logprob), static_cast<float>(sb.logprob)});
  CHECK(store.entropy[1] == static_cast<float>(sb.entropy));
  CHECK(store.varentropy[0] == static_cast<float>(sa.varentropy));
  CHECK(store.top_k == 3);
  REQUIRE(store.top_logprobs.size() == 6);
  CHECK(store.top_logprobs[0] >= store.top_logprobs[1]);
  CHECK(store.top_logprobs[0] >= static_cast<float>(sa.logprob));
  // A row of another width does not fit this store.
  CHECK_THROWS_AS(reckon::append_row_stats(store, sa, std::vector<float>{-1.0f}), reckon::exception);
  reckon::append_row_stats(store, sa); // statistics without top-k are fine
  CHECK(store.logprob.size() == 3);
}

TEST_CASE("the exp2 polynomials meet their stated bounds", "[numerics][token_stats]") {
  // Scalar (= AVX2) exp2: relative error <= 2e-7 on [-125, 0]; AVX-512: <= 3.1e-6. Dense grid.
  double worst_scalar = 0.0;
  [[maybe_unused]] double worst_avx2 = 0.0, worst_avx512 = 0.0;
  for (int i = 0; i <= 125 * 4096; ++i) {
    const float u = -static_cast<float>(i) / 4096.0f;
    const double exact = std::exp2(static_cast<double>(u));
    worst_scalar = std::max(worst_scalar, std::abs(reckon::detail::exp2_poly(u) / exact - 1.0));
#if RECKON_TOKEN_STATS_X86
    if (i % 64 != 0) continue;
    // A one-element block with bm = 0 and k = 1 returns 2^u as s0.
    if (reckon::detail::kernel_available(kernel::avx512)) {
      double shift = 0.0;
      const auto bs = reckon::detail::block_sweep_avx512(&u, 1, 0.0f, 1.0f, nullptr, 0, shift);
      worst_avx512 = std::max(worst_avx512, std::abs(bs.s0 / exact - 1.0));
    }
    if (reckon::detail::kernel_available(kernel::avx2)) {
      const std::vector<float> eight(8, u);
      const auto bs = reckon::detail::block_sweep_avx2(eight.data(), 8, 0.0f, 1.0f, nullptr, 0);
      worst_avx2 = std::max(worst_avx2, std::abs(bs.s0 / (8.0 * exact) - 1.0));
    }
#endif
  }
  CHECK(worst_scalar <= 2e-7);
  CHECK(worst_avx2 <= 2e-7);
  CHECK(worst_avx512 <= 3.1e-6);
}

TEST_CASE("the portable kernel's vector exp2 meets its bound over the whole float range", "[numerics][token_stats]") {
  using reckon::detail::block_sweep_portable;
  using reckon::detail::exp2_poly;
  // Eight equal elements fill the eight lanes once: s0 / 8 is the kernel's 2^u. The bound: 2e-7
  // with FMA (then Horner, bit for bit exp2_poly), 2.5e-7 without (Estrin's scheme in multiply and
  // add; 2.2e-7 measured), on a dense grid of [-125, 0].
  const double bound = RECKON_TOKEN_STATS_PORTABLE_FMA ? 2e-7 : 2.5e-7;
  double worst = 0.0;
  for (int i = 0; i <= 125 * 4096; ++i) {
    const float u = -static_cast<float>(i) / 4096.0f;
    const std::vector<float> eight(8, u);
    const auto bs = block_sweep_portable(eight.data(), 8, 0.0f, 1.0f);
    worst = std::max(worst, std::abs(bs.s0 / (8.0 * std::exp2(static_cast<double>(u))) - 1.0));
  }
  INFO("worst relative error " << worst);
  CHECK(worst <= bound);
  CHECK(worst > 0.0); // the grid reaches the polynomial's error at all

  // Below the floor (very negative logits, -FLT_MAX, -inf = masked), at T = 1, 0.7 and 1.6, in the
  // frame of a block maximum of 3.5: every such element weighs the floor's 2^-125 p(0), with
  // u = -125 in s1, so the sums stay finite; the twelve in-range elements behind them keep
  // their bound.
  const float lows[] = {-std::numeric_limits<float>::max(), -1e30f, -3e4f, ninf};
  for (const double t : {1.0, 0.7, 1.6}) {
    const float k = static_cast<float>(std::numbers::log2e / t);
    for (const float low : lows) {
      std::vector<float> row(8, low);
      for (int j = 0; j < 12; ++j) row.push_back(3.5f - 0.75f * static_cast<float>(j)); // 20: 16 in lanes, 4 in the tail
      const auto bs = block_sweep_portable(row.data(), row.size(), 3.5f, k);
      long double s0 = 8.0L * exp2_poly(reckon::detail::exp2_floor), s1 = s0 * reckon::detail::exp2_floor;
      for (int j = 0; j < 12; ++j) {
        const long double u = static_cast<long double>((row[8 + static_cast<std::size_t>(j)] - 3.5f) * k);
        s0 += std::exp2(u);
        s1 += std::exp2(u) * u;
      }
      INFO("T " << t << " low " << low);
      CHECK(std::isfinite(bs.s0));
      CHECK(std::isfinite(bs.s1));
      CHECK(std::abs(bs.s0 / static_cast<double>(s0) - 1.0) <= bound);
      CHECK(std::abs(bs.s1 / static_cast<double>(s1) - 1.0) <= 2.0 * bound);
    }
  }

  // A NaN logit reaches s1 (so that the pass reports it), from a lane and from the tail alike.
  for (const std::size_t at : {std::size_t{3}, std::size_t{9}}) {
    std::vector<float> row(10, -1.0f);
    row[at] = std::numeric_limits<float>::quiet_NaN();
    CHECK(std::isnan(block_sweep_portable(row.data(), row.size(), 0.0f, 1.0f).s1));
  }
}
