// SPDX-License-Identifier: Apache-2.0
// Keyed Philox streams against std::mt19937_64 (the usual stateful choice), side by side.
#include <reckon/random/stream.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace {

void BM_random_stream_uniform01(benchmark::State& state) {
  reckon::random_stream s(reckon::stream_key{.seed = 1});
  for (auto _ : state) benchmark::DoNotOptimize(reckon::uniform01(s));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_random_stream_uniform01);

void BM_mt19937_64_uniform01(benchmark::State& state) {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(u(g));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_mt19937_64_uniform01);

// Creating a fresh keyed stream per (particle, step), as strategies do.
void BM_random_stream_create_and_draw(benchmark::State& state) {
  std::uint32_t particle = 0;
  for (auto _ : state) {
    reckon::random_stream s(reckon::stream_key{.seed = 1, .problem = 2, .particle = particle++, .step = 3});
    benchmark::DoNotOptimize(reckon::uniform01(s));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_random_stream_create_and_draw);

} // namespace
