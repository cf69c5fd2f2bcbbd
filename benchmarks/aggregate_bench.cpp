// SPDX-License-Identifier: Apache-2.0
// Votes over 1e6 answers (plurality, weighted, incremental) and PRM step reductions, side by side.
#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/random/stream.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

/// n answers over `distinct` keys, skewed towards small keys (like real samples), 5% abstaining.
std::vector<std::optional<std::string>> make_answers(std::size_t n, std::size_t distinct) {
  reckon::random_stream rng(1, 2);
  std::vector<std::optional<std::string>> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = reckon::uniform01(rng);
    if (u < 0.05) {
      out.emplace_back(std::nullopt);
      continue;
    }
    const auto key = static_cast<std::size_t>(u * u * static_cast<double>(distinct)); // skewed
    out.emplace_back("\\frac{" + std::to_string(key) + "}{7}");
  }
  return out;
}

std::vector<double> make_weights(std::size_t n) {
  reckon::random_stream rng(3, 4);
  std::vector<double> w(n);
  for (double& x : w) x = reckon::uniform01(rng);
  return w;
}

// Arguments: {answers, distinct keys}.
void BM_plurality_vote(benchmark::State& state) {
  const auto answers = make_answers(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(reckon::plurality_vote(answers));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_plurality_vote)->Args({1'000'000, 10})->Args({1'000'000, 1'000})->Args({1'000'000, 100'000})->Unit(benchmark::kMillisecond);

void BM_weighted_vote(benchmark::State& state) {
  const auto answers = make_answers(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  const auto weights = make_weights(answers.size());
  for (auto _ : state) benchmark::DoNotOptimize(reckon::weighted_vote(answers, weights));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_weighted_vote)->Args({1'000'000, 10})->Args({1'000'000, 1'000})->Args({1'000'000, 100'000})->Unit(benchmark::kMillisecond);

// Adaptive strategies tally after every round: add 16 answers, then tally, until 1e6.
void BM_incremental_vote_rounds_of_16(benchmark::State& state) {
  const auto answers = make_answers(static_cast<std::size_t>(state.range(0)), 10);
  for (auto _ : state) {
    reckon::vote_counter counter;
    for (std::size_t i = 0; i < answers.size(); ++i) {
      const auto& a = answers[i];
      counter.add(a ? std::optional<std::string_view>(*a) : std::nullopt);
      if (i % 16 == 15) benchmark::DoNotOptimize(counter.tally());
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_incremental_vote_rounds_of_16)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// Step reductions over 1e6 solutions of 8 steps each (items = solutions).
template <class Reduce>
void BM_reduce(benchmark::State& state) {
  const std::size_t solutions = 1'000'000;
  const std::size_t steps = 8;
  const auto scores = make_weights(solutions * steps);
  const std::span<const double> all(scores);
  for (auto _ : state) {
    double sum = 0.0;
    for (std::size_t i = 0; i < solutions; ++i) sum += Reduce{}(all.subspan(i * steps, steps));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(solutions));
}
BENCHMARK(BM_reduce<reckon::reduce_last>)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reduce<reckon::reduce_min>)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reduce<reckon::reduce_prod>)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reduce<reckon::reduce_mean>)->Unit(benchmark::kMillisecond);

} // namespace
