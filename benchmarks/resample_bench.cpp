// SPDX-License-Identifier: Apache-2.0
// The four resampling schemes on 1e3..1e6 particles, side by side, plus normalisation and ESS.
#include <reckon/resample/resampler.hpp>
#include <reckon/resample/weights.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <vector>

namespace {

/// Log-weights of a particle filter's step: logit-like spread over about 10 nats.
std::vector<double> make_log_weights(std::size_t n) {
  reckon::random_stream rng(11, 12);
  std::vector<double> lw(n);
  for (double& x : lw) x = -1000.0 + 10.0 * reckon::uniform01(rng);
  return lw;
}

template <class Scheme>
void BM_resample(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto w = reckon::normalise_log_weights(make_log_weights(n));
  std::vector<std::size_t> ancestors(n);
  reckon::random_stream rng(13, 14);
  for (auto _ : state) {
    Scheme{}(std::span<const double>(w), std::span<std::size_t>(ancestors), rng);
    benchmark::DoNotOptimize(ancestors.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_resample<reckon::multinomial_resampler>)->RangeMultiplier(10)->Range(1'000, 1'000'000);
BENCHMARK(BM_resample<reckon::systematic_resampler>)->RangeMultiplier(10)->Range(1'000, 1'000'000);
BENCHMARK(BM_resample<reckon::stratified_resampler>)->RangeMultiplier(10)->Range(1'000, 1'000'000);
BENCHMARK(BM_resample<reckon::residual_resampler>)->RangeMultiplier(10)->Range(1'000, 1'000'000);

void BM_normalise_log_weights(benchmark::State& state) {
  const auto lw = make_log_weights(static_cast<std::size_t>(state.range(0)));
  std::vector<double> w(lw.size());
  for (auto _ : state) benchmark::DoNotOptimize(reckon::normalise_log_weights(lw, w));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_normalise_log_weights)->RangeMultiplier(10)->Range(1'000, 1'000'000);

void BM_effective_sample_size(benchmark::State& state) {
  const auto w = reckon::normalise_log_weights(make_log_weights(static_cast<std::size_t>(state.range(0))));
  for (auto _ : state) benchmark::DoNotOptimize(reckon::effective_sample_size(w));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_effective_sample_size)->RangeMultiplier(10)->Range(1'000, 1'000'000);

} // namespace
