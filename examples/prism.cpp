// SPDX-License-Identifier: Apache-2.0
// PRISM: PRM-weighted resampling plus reviser refinement of a population of whole solutions.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

int main() {
  // The synthetic model samples, revises (fixes a wrong step with probability 0.5) and is its own PRM.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);
  // PRISM only asks for what the budget can pay at max_tokens (2048) per sample or revision.
  const reckon::budget limit{.max_generated_tokens = 100'000};

  // 8 solutions, 3 rounds: resample by PRM weight (no solution takes more than 30% of the
  // population), then ask the reviser to rewrite every solution the PRM does not fully trust.
  const reckon::prism refine(reckon::prism_params{.n = 8, .rounds = 3});
  // The same population with 0 rounds: score the samples and take the PRM-weighted vote.
  const reckon::prism vote_only(reckon::prism_params{.n = 8, .rounds = 0});

  int refine_right = 0, vote_right = 0;
  reckon::ledger refine_cost, vote_cost;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    // Same stream, so both start from the same 8 samples: any difference is the refinement.
    auto r = refine.run(model, model, p, limit, stream); // the model is the policy, the reviser and the PRM
    if (!r) return fmt::print("prism error: {}\n", r.error()), 1;
    auto v = vote_only.run(model, model, p, limit, stream);
    if (!v) return fmt::print("prism (0 rounds) error: {}\n", v.error()), 1;
    fmt::print("problem {:2}: gold {:>6} | prism {:>6} ({:.2f}) | weighted vote {:>6} ({:.2f})\n", i, q.gold,
               r->answer.value_or("none"), r->confidence, v->answer.value_or("none"), v->confidence);
    refine_right += r->answer == q.gold ? 1 : 0;
    vote_right += v->answer == q.gold ? 1 : 0;
    refine_cost += r->cost;
    vote_cost += v->cost;
  }
  // Revisions prefill each candidate again: the ledger shows the price of the extra accuracy.
  fmt::print("\nprism, 3 rounds:       {}/20 right\n  cost {}\n", refine_right, refine_cost);
  fmt::print("prism, 0 rounds (vote): {}/20 right\n  cost {}\n", vote_right, vote_cost);
}
