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

// The same votes with answer_merge::key (no pooling of equal answers), side by side with the
// default answer_merge::equal above: the keys are exact fractions, so the default pays only its
// numeric screen.
reckon::vote_params by_key() {
  reckon::vote_params p;
  p.merge = reckon::answer_merge::key;
  return p;
}
void BM_plurality_vote_by_key(benchmark::State& state) {
  const auto answers = make_answers(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(reckon::plurality_vote(answers, by_key()));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_plurality_vote_by_key)->Args({1'000'000, 10})->Args({1'000'000, 1'000})->Args({1'000'000, 100'000})->Unit(benchmark::kMillisecond);

template <bool Merge>
void BM_incremental_rounds_of_16_policy(benchmark::State& state) {
  const auto answers = make_answers(static_cast<std::size_t>(state.range(0)), 10);
  const reckon::vote_params params = Merge ? reckon::vote_params{} : by_key();
  for (auto _ : state) {
    reckon::vote_counter counter;
    for (std::size_t i = 0; i < answers.size(); ++i) {
      const auto& a = answers[i];
      counter.add(a ? std::optional<std::string_view>(*a) : std::nullopt);
      if (i % 16 == 15) benchmark::DoNotOptimize(counter.tally(params));
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_incremental_rounds_of_16_policy<true>)->Name("BM_incremental_rounds_of_16/merge_equal")->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_incremental_rounds_of_16_policy<false>)->Name("BM_incremental_rounds_of_16/by_key")->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// A self-consistency vote of 64 samples whose answers are expressions: 4 answers, each written
// 2 ways (so 8 keys), the case answer_merge::equal exists for; items = votes.
template <bool Merge>
void BM_vote_64_symbolic(benchmark::State& state) {
  static const char* forms[] = {"\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", "x^{2}-1", "(x-1)(x+1)",
                                "2\\sin x\\cos x", "\\sin(2x)", "3+2i", "2i+3"};
  reckon::random_stream rng(5, 6);
  std::vector<std::string> answers;
  for (int i = 0; i < 64; ++i) answers.emplace_back(forms[static_cast<std::size_t>(reckon::uniform01(rng) * 8)]);
  const reckon::vote_params params = Merge ? reckon::vote_params{} : by_key();
  for (auto _ : state) benchmark::DoNotOptimize(reckon::plurality_vote(answers, params));
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_vote_64_symbolic<true>)->Name("BM_vote_64_symbolic/merge_equal")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_vote_64_symbolic<false>)->Name("BM_vote_64_symbolic/by_key")->Unit(benchmark::kMicrosecond);

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
