// SPDX-License-Identifier: Apache-2.0
// Particle filtering vs plain majority voting on hard problems, at the same token budget.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

int main() {
  // The synthetic model samples, steps, forks and is its own PRM, so both strategies run on it.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);
  // One token budget for both: the comparison is accuracy per token, not per sample.
  const reckon::budget limit{.max_generated_tokens = 12'000};

  // 8 particles, resampled at every step by the PRM's odds of the latest step being right:
  // particles on a wrong path are dropped early and the good prefixes are forked (no re-prefill).
  const reckon::particle_filter filter(reckon::particle_filter_params{.n = 8});
  // The baseline spends the same budget on independent whole samples and votes.
  const reckon::self_consistency majority(reckon::self_consistency_params{.n = 8});

  int filter_right = 0, majority_right = 0;
  reckon::ledger filter_cost, majority_cost;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    // The same stream for both runs: each run is reproducible from (seed, problem).
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto pf = filter.run(model, model, p, limit, stream); // the policy model and the PRM
    if (!pf) return fmt::print("particle filter error: {}\n", pf.error()), 1;
    auto mv = majority.run(model, p, limit, stream);
    if (!mv) return fmt::print("majority error: {}\n", mv.error()), 1;
    fmt::print("problem {:2}: gold {:>6} | particle filter {:>6} ({:.2f}) | majority {:>6} ({:.2f})\n", i, q.gold,
               pf->answer.value_or("none"), pf->confidence, mv->answer.value_or("none"), mv->confidence);
    filter_right += pf->answer == q.gold ? 1 : 0;
    majority_right += mv->answer == q.gold ? 1 : 0;
    filter_cost += pf->cost;
    majority_cost += mv->cost;
  }
  // The filter pays for PRM calls on every step; the ledger shows what the accuracy cost.
  fmt::print("\nparticle filter: {}/20 right\n  cost {}\n", filter_right, filter_cost);
  fmt::print("majority:        {}/20 right\n  cost {}\n", majority_right, majority_cost);
}
