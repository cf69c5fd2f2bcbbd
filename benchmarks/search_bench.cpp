// SPDX-License-Identifier: Apache-2.0
// Orchestration overhead of the search strategies per particle-step, with a zero-cost model and PRM.
#include <reckon/strategy/beam_search.hpp>
#include <reckon/strategy/particle_filter.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

constexpr std::uint32_t kSteps = 16; // every sequence finishes after this many steps

/// A stepping model that does no work: a step is a fixed 24-character text of 8 tokens; a
/// sequence finishes after kSteps steps. Handles index a table reused through a free list.
struct zero_cost_model {
  using reckon_model_concept = reckon::capabilities<reckon::stepping_model_tag, reckon::process_reward_model_tag>;
  using sequence = std::uint32_t;

  std::vector<std::uint32_t> depth; // per handle: steps taken
  std::vector<sequence> free;
  std::string text = "Step text of a model.\n\n";

  reckon::result<sequence> begin(const reckon::problem&) { return take(0); }
  reckon::result<sequence> fork(sequence s) { return take(depth[s]); }
  void release(sequence s) noexcept { free.push_back(s); }
  reckon::result<reckon::step_batch> extend(std::span<const sequence> seqs, const reckon::step_params&,
                                            std::span<const std::uint64_t> seeds) {
    reckon::step_batch b;
    b.steps.resize(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      reckon::step& st = b.steps[i];
      st.text = text;
      st.tokens = 8;
      st.done = ++depth[seqs[i]] >= kSteps;
      st.source = seeds[i];
    }
    b.usage.generated_tokens = 8 * seqs.size();
    b.usage.engine_calls = 1;
    return b;
  }
  /// Scores from the last step's source bits: no work beyond filling the answer.
  reckon::result<std::vector<std::vector<double>>> score_steps(const reckon::problem&,
                                                               std::span<const reckon::solution_view> c) {
    std::vector<std::vector<double>> out(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) {
      out[i].assign(c[i].steps.size(), 0.5);
      out[i].back() = 0.05 + 0.9 * static_cast<double>(c[i].source >> 11) * 0x1.0p-53;
    }
    return out;
  }

private:
  reckon::result<sequence> take(std::uint32_t d) {
    if (!free.empty()) {
      const sequence s = free.back();
      free.pop_back();
      depth[s] = d;
      return s;
    }
    depth.push_back(d);
    return static_cast<sequence>(depth.size() - 1);
  }
};

template <class Strategy>
void run_search(benchmark::State& state, const Strategy& strategy) {
  zero_cost_model model;
  const reckon::problem p{7, "prompt"};
  std::uint64_t seed = 0;
  for (auto _ : state) {
    auto r = strategy.run(model, model, p, reckon::budget{}, reckon::random_stream(reckon::stream_key{++seed, p.id, 0, 0}));
    benchmark::DoNotOptimize(r);
  }
  // One item is one particle-step: n sequences extended kSteps times.
  state.SetItemsProcessed(state.iterations() * state.range(0) * kSteps);
  state.counters["ns_per_particle_step"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0) * kSteps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_particle_filter(benchmark::State& state) {
  reckon::particle_filter_params pp;
  pp.n = static_cast<std::uint32_t>(state.range(0));
  run_search(state, reckon::particle_filter(pp));
}
BENCHMARK(BM_particle_filter)->Arg(16)->Arg(64)->Arg(256);

void BM_beam_search(benchmark::State& state) {
  reckon::beam_search_params bp;
  bp.n = static_cast<std::uint32_t>(state.range(0));
  bp.width = 4;
  run_search(state, reckon::beam_search(bp));
}
BENCHMARK(BM_beam_search)->Arg(16)->Arg(64)->Arg(256);

void BM_dvts(benchmark::State& state) {
  reckon::beam_search_params bp;
  bp.n = static_cast<std::uint32_t>(state.range(0));
  bp.width = 4;
  run_search(state, reckon::dvts(bp));
}
BENCHMARK(BM_dvts)->Arg(16)->Arg(64)->Arg(256);

} // namespace
