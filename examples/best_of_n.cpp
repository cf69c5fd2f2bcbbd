// SPDX-License-Identifier: Apache-2.0
// Best-of-N with a reward model: how the PRM step reduction and the selection rule change accuracy.
#include <reckon/format.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

int main() {
  const auto suite = reckon::testing::make_suite("hard", reckon::testing::default_suite_seed, 100).value();
  reckon::testing::synthetic_model model(suite); // also its own PRM and ORM (AUC 0.76)

  // The same 16 samples per problem (same seeds), chosen between in different ways.
  const reckon::best_of_n_params params{.n = 16};
  using key = reckon::canonical_answer_key;
  const reckon::self_consistency majority({.n = 16});
  const reckon::basic_best_of_n<reckon::select_naive, reckon::prm_scorer<reckon::reduce_last>, key> last(params);
  const reckon::basic_best_of_n<reckon::select_naive, reckon::prm_scorer<reckon::reduce_min>, key> min(params);
  const reckon::basic_best_of_n<reckon::select_weighted, reckon::prm_scorer<reckon::reduce_last>, key> weighted(params);
  const reckon::basic_best_of_n<reckon::select_naive, reckon::orm_scorer, key> orm(params);

  auto accuracy = [&](const auto& run) {
    int correct = 0;
    for (const auto& q : suite.problems) {
      const reckon::problem p = q.as_problem();
      const reckon::result<reckon::strategy_result> r = run(p, reckon::random_stream({.seed = 3, .problem = p.id}));
      if (!r) {
        fmt::print("error: {}\n", r.error());
        return -1.0;
      }
      correct += r->answer == q.gold;
    }
    return correct / static_cast<double>(suite.problems.size());
  };
  const reckon::budget unlimited{};
  fmt::print("majority vote          {:.2f}\n", accuracy([&](auto& p, auto s) { return majority.run(model, p, unlimited, s); }));
  fmt::print("best-of-n, PRM last    {:.2f}\n", accuracy([&](auto& p, auto s) { return last.run(model, model, p, unlimited, s); }));
  fmt::print("best-of-n, PRM min     {:.2f}\n", accuracy([&](auto& p, auto s) { return min.run(model, model, p, unlimited, s); }));
  fmt::print("weighted, PRM last     {:.2f}\n", accuracy([&](auto& p, auto s) { return weighted.run(model, model, p, unlimited, s); }));
  fmt::print("best-of-n, ORM         {:.2f}\n", accuracy([&](auto& p, auto s) { return orm.run(model, model, p, unlimited, s); }));
  return 0;
}
