// SPDX-License-Identifier: Apache-2.0
// REBASE against weighted voting: the same PRM, the same tokens, spent where the PRM points.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>

int main() {
  // The synthetic model samples, steps, forks and is its own PRM: all three strategies run on it.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);

  // REBASE with width 4: the root gets 4 children; after every step the live nodes share the
  // width by a softmax (T 0.2) of their last-step PRM scores, so a promising prefix is forked
  // and a poor one released. Each completed solution uses up one unit of width, so the run ends
  // with 4 solutions, about the tokens of 4 independent samples. Weighted voting (sampling, then
  // the PRM's last-step scores as vote weights, the paper's baseline) gets 4 and 16 samples.
  const reckon::rebase rebase(reckon::rebase_params{.width = 4});
  const reckon::weighted_best_of_n vote4(reckon::best_of_n_params{.n = 4});
  const reckon::weighted_best_of_n vote16(reckon::best_of_n_params{.n = 16});

  struct totals {
    const char* name;
    int right = 0;
    reckon::ledger cost;
  } rb{"rebase, width 4"}, w4{"weighted voting, n = 4"}, w16{"weighted voting, n = 16"};
  const std::size_t problems = suite.problems.size();
  for (std::size_t i = 0; i < problems; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto r = rebase.run(model, model, p, reckon::budget{}, stream); // the stepping model and the PRM
    if (!r) return fmt::print("rebase error: {}\n", r.error()), 1;
    auto a = vote4.run(model, model, p, reckon::budget{}, stream); // the sampling model and the PRM
    if (!a) return fmt::print("weighted voting error: {}\n", a.error()), 1;
    auto b = vote16.run(model, model, p, reckon::budget{}, stream);
    if (!b) return fmt::print("weighted voting error: {}\n", b.error()), 1;
    if (i < 10)
      fmt::print("problem {:2} ({} steps): gold {:>5} | rebase {:>5} | weighted n=4 {:>5} | weighted n=16 {:>5}\n", i, q.steps,
                 q.gold, r->answer.value_or("none"), a->answer.value_or("none"), b->answer.value_or("none"));
    for (auto [t, x] : {std::pair{&rb, &r}, std::pair{&w4, &a}, std::pair{&w16, &b}}) {
      t->right += (*x)->answer == q.gold ? 1 : 0;
      t->cost += (*x)->cost;
    }
  }
  // REBASE spends the tokens of 4 samples and beats 16 samples here (244, 201 and 230 of 300 right).
  fmt::print("\n");
  for (const auto* t : {&rb, &w4, &w16})
    fmt::print("{:<24} {:3}/{} right, {:6.0f} tokens per problem, {} engine calls\n", t->name, t->right, problems,
               static_cast<double>(t->cost.total_tokens()) / problems, t->cost.engine_calls);
}
