// SPDX-License-Identifier: Apache-2.0
// Beam search and DVTS side by side: one shared beam vs n/M independent subtrees, same PRM, same n.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <utility>

int main() {
  // The synthetic model steps, forks and is its own PRM: both searches run on it.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);
  const reckon::budget limit{.max_generated_tokens = 20'000};

  // 16 beams of width 4. Beam search keeps the top 4 of all 16 beams at every step and refills
  // them by forking: the survivors soon share one prefix, so its 16 finished beams mostly agree.
  // DVTS splits the 16 into 4 independent greedy subtrees; each answers with the 4 children of its
  // last expansion, so 16 candidates from 4 different prefixes. Same params, same steps, same
  // cost: only the pruning differs.
  const reckon::beam_search_params params{.n = 16, .width = 4};
  const reckon::beam_search beams(params);
  const reckon::dvts trees(params);

  struct totals {
    int right = 0;
    std::size_t candidates = 0, distinct = 0; // candidates voted on and distinct answers among them
    reckon::ledger cost;
  } bs, dv;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto b = beams.run(model, model, p, limit, stream); // the policy model and the PRM
    if (!b) return fmt::print("beam search error: {}\n", b.error()), 1;
    auto d = trees.run(model, model, p, limit, stream);
    if (!d) return fmt::print("dvts error: {}\n", d.error()), 1;
    fmt::print("problem {:2}: gold {:>5} | beam search {:>5} ({:.2f}, {} answers of {}) | dvts {:>5} ({:.2f}, {} of {})\n", i,
               q.gold, b->answer.value_or("none"), b->confidence, b->tally.answers.size(), b->samples,
               d->answer.value_or("none"), d->confidence, d->tally.answers.size(), d->samples);
    for (auto [t, r] : {std::pair{&bs, &b}, std::pair{&dv, &d}}) {
      t->right += (*r)->answer == q.gold ? 1 : 0;
      t->candidates += (*r)->samples;
      t->distinct += (*r)->tally.answers.size();
      t->cost += (*r)->cost;
    }
  }
  // Diversity: DVTS's candidates come from independent prefixes, beam search's mostly from one.
  fmt::print("\nbeam search: {}/20 right, {} distinct answers among {} candidates\n  cost {}\n", bs.right, bs.distinct,
             bs.candidates, bs.cost);
  fmt::print("dvts:        {}/20 right, {} distinct answers among {} candidates\n  cost {}\n", dv.right, dv.distinct,
             dv.candidates, dv.cost);
}
