// SPDX-License-Identifier: Apache-2.0
// Token statistics over a 64 x 152064 logits batch against a plain read-only sum of the same buffer.
#include <reckon/numerics/token_stats.hpp>
#include <reckon/numerics/topk_stats.hpp>
#include <reckon/random/stream.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

constexpr std::size_t rows = 64;
constexpr std::size_t vocab = 152064; // Qwen2.5's vocabulary

// Logit-like rows: N(0, 2.5) noise and one token 12 above it (a confident next token).
struct batch {
  std::vector<float> logits;
  std::vector<std::int32_t> chosen;
  batch() : logits(rows * vocab), chosen(rows) {
    reckon::random_stream s(reckon::stream_key{.seed = 4, .problem = 152064});
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t v = 0; v < vocab; ++v) {
        // Box-Muller from two uniforms.
        const double u1 = 1.0 - reckon::uniform01(s), u2 = reckon::uniform01(s);
        logits[r * vocab + v] = static_cast<float>(2.5 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
      const auto hot = static_cast<std::size_t>(reckon::uniform01(s) * vocab);
      logits[r * vocab + hot] += 12.0f;
      chosen[r] = static_cast<std::int32_t>(hot);
    }
  }
};

const batch& data() {
  static const batch b;
  return b;
}

void set_bytes(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(rows * vocab * sizeof(float)));
}

// The yardstick: a vectorised read-only reduction over the same buffer (Eigen's sum).
void BM_read_bandwidth_sum(benchmark::State& state) {
  const auto& b = data();
  const Eigen::Map<const Eigen::ArrayXf> all(b.logits.data(), static_cast<Eigen::Index>(b.logits.size()));
  for (auto _ : state) benchmark::DoNotOptimize(all.sum());
  set_bytes(state);
}
BENCHMARK(BM_read_bandwidth_sum);

// The reckon kernel: lse, chosen logprob, entropy and varentropy of all 64 rows.
void BM_token_stats_batch(benchmark::State& state) {
  const auto& b = data();
  std::vector<reckon::row_stats> out(rows);
  for (auto _ : state) {
    reckon::token_stats_batch(b.logits, vocab, b.chosen, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_token_stats_batch);

// The same with the portable kernel forced (what a build without x86 SIMD gets).
void BM_portable_kernel_batch(benchmark::State& state) {
  const auto& b = data();
  std::vector<reckon::row_stats> out(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r)
      out[r] = reckon::detail::row_stats_impl(std::span<const float>(b.logits).subspan(r * vocab, vocab),
                                              static_cast<std::size_t>(b.chosen[r]), {}, {}, {},
                                              reckon::detail::kernel::portable, "bench");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_portable_kernel_batch);

// With the top 20 logprobs of every row (DeepConf's k), fused into the same pass.
void BM_top_k20_full_rows(benchmark::State& state) {
  const auto& b = data();
  constexpr std::size_t k = 20;
  std::vector<reckon::row_stats> out(rows);
  std::vector<std::int32_t> ids(rows * k);
  std::vector<float> lps(rows * k);
  for (auto _ : state) {
    reckon::token_stats_batch(b.logits, vocab, b.chosen, out, {}, ids, lps);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(lps.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_top_k20_full_rows);

// The server path: entropy and varentropy estimated from k = 20 returned logprobs, per token.
void BM_top_k20_server_estimates(benchmark::State& state) {
  const auto& b = data();
  constexpr std::size_t k = 20;
  std::vector<reckon::row_stats> out(rows);
  std::vector<std::int32_t> ids(rows * k);
  std::vector<float> lps(rows * k);
  reckon::token_stats_batch(b.logits, vocab, b.chosen, out, {}, ids, lps);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r)
      out[r] = reckon::topk_row_stats(out[r].logprob, std::span<const float>(lps).subspan(r * k, k),
                                      {.tail = reckon::tail_model::spread, .vocab = vocab});
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(rows));
}
BENCHMARK(BM_top_k20_server_estimates);

// The textbook alternative: max pass, then a second pass with std::exp, double sums, per row.
void BM_naive_two_pass(benchmark::State& state) {
  const auto& b = data();
  std::vector<reckon::row_stats> out(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* x = b.logits.data() + r * vocab;
      float m = x[0];
      for (std::size_t v = 1; v < vocab; ++v) m = x[v] > m ? x[v] : m;
      double z = 0.0, s1 = 0.0, s2 = 0.0;
      for (std::size_t v = 0; v < vocab; ++v) {
        const float d = x[v] - m;
        const float e = std::exp(d);
        z += e;
        s1 += e * d;
        s2 += e * d * d;
      }
      const double lz = std::log(z), mean = s1 / z;
      out[r] = {m + lz, x[b.chosen[r]] - m - lz, lz - mean, s2 / z - mean * mean};
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_naive_two_pass);

} // namespace
