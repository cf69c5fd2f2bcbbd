// SPDX-License-Identifier: Apache-2.0
// Token statistics over a 64 x 152064 logits batch against a plain read-only sum of the same buffer.
#include <reckon/numerics/sample_row.hpp>
#include <reckon/numerics/token_stats.hpp>
#include <reckon/numerics/topk_stats.hpp>
#include <reckon/random/stream.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
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

// Each kernel forced, whatever this CPU has: the automatic choice is made at run time (cpuid;
// the SIMD kernels are compiled through target attributes), so -m flags do not change which kernel
// BM_token_stats_batch measures. BM_avx2_* are what an AVX2 + FMA machine without AVX-512 runs.
// The portable kernel is plain C++ in generic vectors: its code does follow the build's flags
// (SSE2 for plain x86-64, AVX with -march=native on an AVX2 machine).
void forced_kernel_batch(benchmark::State& state, reckon::detail::kernel which, std::size_t k) {
  const auto& b = data();
  std::vector<reckon::row_stats> out(rows);
  std::vector<std::int32_t> ids(rows * k);
  std::vector<float> lps(rows * k);
  if (!reckon::detail::kernel_available(which)) {
    state.SkipWithError("this CPU does not run the kernel");
    return;
  }
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r)
      out[r] = reckon::detail::row_stats_impl(std::span<const float>(b.logits).subspan(r * vocab, vocab),
                                              static_cast<std::size_t>(b.chosen[r]), {},
                                              std::span<std::int32_t>(ids).subspan(r * k, k),
                                              std::span<float>(lps).subspan(r * k, k), which, "bench");
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(lps.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}

void BM_portable_kernel_batch(benchmark::State& state) { forced_kernel_batch(state, reckon::detail::kernel::portable, 0); }
BENCHMARK(BM_portable_kernel_batch);

void BM_avx2_kernel_batch(benchmark::State& state) { forced_kernel_batch(state, reckon::detail::kernel::avx2, 0); }
BENCHMARK(BM_avx2_kernel_batch);

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

void BM_avx2_top_k20_full_rows(benchmark::State& state) { forced_kernel_batch(state, reckon::detail::kernel::avx2, 20); }
BENCHMARK(BM_avx2_top_k20_full_rows);

// A second yardstick, so that the kernels can be read against the read they follow in the run.
BENCHMARK(BM_read_bandwidth_sum)->Name("BM_read_bandwidth_sum_again");

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

// ---- sampling a token from each row (issue: one pass per logits row) ------------------------------
// The same 64 rows; each draw's uniform comes from a fixed stream. Read these against
// BM_token_stats_batch (the statistics pass alone) in the same run.

// reckon's fused sampler: the draw at T and the statistics at T = 1 in one pass (T = 1: the
// pass's own block weights; T = 0.7: a second, s0-only sweep of each cached block).
void BM_sample_row_batch(benchmark::State& state) {
  const auto& b = data();
  const double t = static_cast<double>(state.range(0)) / 100.0;
  reckon::random_stream s(reckon::stream_key{.seed = 9});
  std::vector<double> u(rows);
  for (auto& x : u) x = reckon::uniform01(s);
  std::vector<std::size_t> tokens(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r)
      tokens[r] = reckon::sample_row(std::span<const float>(b.logits).subspan(r * vocab, vocab), u[r], {.temperature = t}).token;
    benchmark::DoNotOptimize(tokens.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_sample_row_batch)->Arg(100)->Arg(70);

// The three-pass path the llama.cpp adapter had: a statistics pass for the log-sum-exp, a scalar
// exp per entry until the inverse CDF passes the uniform, then the statistics pass again.
void BM_three_pass_sampling_batch(benchmark::State& state) {
  const auto& b = data();
  const double t = static_cast<double>(state.range(0)) / 100.0;
  reckon::random_stream s(reckon::stream_key{.seed = 9});
  std::vector<double> u(rows);
  for (auto& x : u) x = reckon::uniform01(s);
  std::vector<reckon::row_stats> out(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r) {
      const std::span<const float> row = std::span<const float>(b.logits).subspan(r * vocab, vocab);
      const double lse = reckon::token_row_stats(row, std::nullopt, {.temperature = t}).log_sum_exp;
      std::size_t tok = 0;
      double running = 0.0;
      for (std::size_t v = 0; v < vocab; ++v) {
        running += std::exp((static_cast<double>(row[v]) - lse) / t);
        tok = v;
        if (u[r] < running) break;
      }
      out[r] = reckon::token_row_stats(row, tok);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_three_pass_sampling_batch)->Arg(100)->Arg(70);

// top-p = 0.9 at T = 0.8: reckon's nucleus from a bounded selection in the pass...
void BM_sample_row_top_p_batch(benchmark::State& state) {
  const auto& b = data();
  reckon::random_stream s(reckon::stream_key{.seed = 9});
  std::vector<double> u(rows);
  for (auto& x : u) x = reckon::uniform01(s);
  std::vector<std::size_t> tokens(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r)
      tokens[r] = reckon::sample_row(std::span<const float>(b.logits).subspan(r * vocab, vocab), u[r],
                                     {.temperature = 0.8, .top_p = 0.9})
                      .token;
    benchmark::DoNotOptimize(tokens.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_sample_row_top_p_batch);

// ...against the old rule: an exp per entry and a sort of the whole 152k vocabulary per token.
void BM_full_sort_top_p_batch(benchmark::State& state) {
  const auto& b = data();
  reckon::random_stream s(reckon::stream_key{.seed = 9});
  std::vector<double> u(rows);
  for (auto& x : u) x = reckon::uniform01(s);
  std::vector<std::pair<float, std::int32_t>> scratch;
  std::vector<std::int32_t> tokens(rows);
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* x = b.logits.data() + r * vocab;
      const float mx = *std::max_element(x, x + vocab);
      scratch.clear();
      double total = 0.0;
      for (std::size_t v = 0; v < vocab; ++v) {
        const float p = std::exp((x[v] - mx) / 0.8f);
        total += p;
        scratch.emplace_back(p, static_cast<std::int32_t>(v));
      }
      std::sort(scratch.begin(), scratch.end(), [](const auto& a, const auto& c) { return a.first != c.first ? a.first > c.first : a.second < c.second; });
      double mass = 0.0;
      std::size_t keep = 0;
      while (keep < scratch.size()) {
        mass += scratch[keep++].first;
        if (mass >= 0.9 * total) break;
      }
      const double target = u[r] * mass;
      double running = 0.0;
      tokens[r] = scratch[keep - 1].second;
      for (std::size_t i = 0; i < keep; ++i) {
        running += scratch[i].first;
        if (target < running) {
          tokens[r] = scratch[i].second;
          break;
        }
      }
    }
    benchmark::DoNotOptimize(tokens.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state);
}
BENCHMARK(BM_full_sort_top_p_batch);

} // namespace
