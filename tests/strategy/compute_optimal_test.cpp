// SPDX-License-Identifier: Apache-2.0
#include <reckon/eval/harness.hpp>
#include <reckon/eval/register_adaptive.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/compute_optimal.hpp>
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <cstdio>
#include <memory>

using namespace reckon;

namespace {

constexpr std::uint64_t seed_a = 11; // calibration suite and run seed
constexpr std::uint64_t seed_b = 22; // evaluation suite and run seed

std::shared_ptr<const testing::suite> suite_of(std::uint64_t seed, std::size_t size) {
  return std::make_shared<const testing::suite>(testing::make_suite("mixed", seed, size).value());
}

std::vector<calibration_problem> calibration(const testing::suite& s) {
  std::vector<calibration_problem> out;
  for (const auto& q : s.problems) out.push_back(calibration_problem{q.as_problem(), q.gold});
  return out;
}

} // namespace

TEST_CASE("compute_optimal_table: JSON round trip and strict reading", "[strategy][compute_optimal]") {
  compute_optimal_table t;
  t.budget = 8;
  t.probe = 2;
  t.edges = {0.1, 0.2, 0.35, 0.5};
  t.bins = {{co_method::majority, 2, 0.9}, {co_method::weighted_orm, 4, 0.8}, {co_method::best_prm, 8, 0.7},
            {co_method::free_energy, 8, 0.6}, {co_method::weighted_prm, 8, 0.5}};
  const std::string json = t.to_json();
  auto back = compute_optimal_table::from_json(json);
  REQUIRE(back);
  CHECK(back->to_json() == json);
  CHECK(back->bin_of(0.0) == 0);
  CHECK(back->bin_of(0.2) == 2);
  CHECK(back->bin_of(0.9) == 4);
  CHECK_FALSE(compute_optimal_table::from_json("{\"budget\":8}"));
  CHECK_FALSE(compute_optimal_table::from_json(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"magic","n":2}]})"));
  CHECK_FALSE(compute_optimal_table::from_json(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"majority","n":9}]})"));
  CHECK_FALSE(compute_optimal_table::from_json(R"({"budget":8,"probe":2,"edges":[0.5,0.1],"bins":[{"method":"majority","n":2},{"method":"majority","n":2},{"method":"majority","n":2}]})"));
  CHECK_FALSE(compute_optimal_table::from_json("[1,"));
}

TEST_CASE("compute_optimal is at least as accurate as the best single strategy at n = 8 on mixed",
          "[strategy][compute_optimal][statistics]") {
  // Calibrate on mixed (suite seed 11, run seed 11, 600 problems) at budget 8; evaluate on mixed
  // (suite seed 22, run seed 22, 300 problems), default synthetic reward models (AUC 0.76). The best
  // single strategy is the one the same calibration picks with one bin (Snell et al.'s baseline: the
  // best fixed strategy), run at n = 8; both run on the evaluation suite. Stated tolerance:
  // compute_optimal within 2 points (6 problems) of that strategy's accuracy at no more of its
  // tokens, and within 3 points of the best of the six strategies picked after the fact on the
  // evaluation suite itself (an optimistic bound: the max of six noisy accuracies). Measured: 0.860
  // vs 0.860 (best-orm) at equal tokens; post hoc best 0.880 (best-prm-last). The per-bin choice
  // has little to gain on `mixed`: every method here is a sample pool, and the synthetic reward
  // models' quality does not depend on difficulty, so bins mostly differ by noise.
  const auto cal = suite_of(seed_a, 600);
  const auto eval = suite_of(seed_b, 300);
  testing::synthetic_model cmodel(cal);
  const auto cp = calibration(*cal);
  compute_optimal_fit_params fit;
  fit.seed = seed_a;
  auto table = fit_compute_optimal(cmodel, cmodel, std::span<const calibration_problem>(cp), fit);
  REQUIRE(table);
  fit.bins = 1;
  fit.methods = {co_method::majority, co_method::weighted_orm, co_method::best_orm, co_method::weighted_prm,
                 co_method::best_prm, co_method::free_energy};
  auto single = fit_compute_optimal(cmodel, cmodel, std::span<const calibration_problem>(cp), fit);
  REQUIRE(single);
  single->bins[0].n = 8; // the same budget
  std::printf("table: %s\nsingle: %s\n", table->to_json().c_str(), single->to_json().c_str());
  REQUIRE(compute_optimal_table::from_json(table->to_json()));

  testing::synthetic_model model(eval);
  auto run_all = [&](auto&& f) { return test::run_suite(*eval, f, seed_b); };
  auto run_table = [&](const compute_optimal_table& t) {
    compute_optimal_params params;
    params.table = t;
    const compute_optimal co(params);
    return run_all([&](const problem& p, const random_stream& s) {
      auto r = co.run(model, model, p, budget{}, s);
      REQUIRE(r);
      CHECK(r->samples <= 8);
      return r;
    });
  };
  const auto mine = run_table(*table);
  const auto fixed = run_table(*single);
  std::printf("compute-optimal: acc %.3f tokens %.1f\nbest single (%s, calibrated): acc %.3f tokens %.1f\n", mine.accuracy,
              mine.mean_total, std::string(to_string(single->bins[0].method)).c_str(), fixed.accuracy, fixed.mean_total);
  const self_consistency sc(self_consistency_params{.n = 8});
  const best_of_n bon(best_of_n_params{.n = 8});
  const weighted_best_of_n wbon(best_of_n_params{.n = 8});
  const basic_best_of_n<select_naive, orm_scorer, canonical_answer_key> bon_orm(best_of_n_params{.n = 8});
  const basic_best_of_n<select_weighted, orm_scorer, canonical_answer_key> wbon_orm(best_of_n_params{.n = 8});
  const free_energy_fusion fe(free_energy_fusion_params{.n = 8});
  double best = 0.0;
  auto note = [&](const char* name, const test::sweep& s) {
    std::printf("%s: acc %.3f tokens %.1f\n", name, s.accuracy, s.mean_total);
    best = std::max(best, s.accuracy);
  };
  note("majority", run_all([&](const problem& p, const random_stream& s) { return sc.run(model, p, budget{}, s); }));
  note("best-prm-last", run_all([&](const problem& p, const random_stream& s) { return bon.run(model, model, p, budget{}, s); }));
  note("weighted-prm-last", run_all([&](const problem& p, const random_stream& s) { return wbon.run(model, model, p, budget{}, s); }));
  note("best-orm", run_all([&](const problem& p, const random_stream& s) { return bon_orm.run(model, model, p, budget{}, s); }));
  note("weighted-orm", run_all([&](const problem& p, const random_stream& s) { return wbon_orm.run(model, model, p, budget{}, s); }));
  note("free-energy", run_all([&](const problem& p, const random_stream& s) { return fe.run(model, p, budget{}, s); }));
  CHECK(mine.accuracy >= fixed.accuracy - 0.02);
  CHECK(mine.accuracy >= best - 0.03);
  CHECK(mine.mean_total <= fixed.mean_total);
}

TEST_CASE("compute_optimal: errors and budgets", "[strategy][compute_optimal]") {
  const auto s = test::shared_suite("mixed", 5);
  testing::synthetic_model model(s);
  const problem p = s->problems[0].as_problem();
  const random_stream st(stream_key{.seed = 1, .problem = p.id});
  compute_optimal_params bad;
  bad.table.bins.clear();
  CHECK(compute_optimal(bad).run(model, model, p, budget{}, st).error().code == errc::invalid_argument);
  compute_optimal_params one;
  one.table.edges = {};
  one.table.bins = {co_choice{co_method::weighted_prm, 8, 0.0}};
  budget tiny;
  tiny.max_generated_tokens = 10;
  one.sampling.max_tokens = 100;
  CHECK(compute_optimal(one).run(model, model, p, tiny, st).error().code == errc::budget_exhausted);
  budget b;
  b.max_generated_tokens = 500;
  auto r = compute_optimal(one).run(model, model, p, b, st);
  REQUIRE(r);
  CHECK(r->cost.generated_tokens <= 500);
  CHECK(r->samples <= 5);
  // A free-energy bin on a model without logprobs, a PRM bin without a PRM.
  struct orm_only : testing::synthetic_model {
    using testing::synthetic_model::synthetic_model;
    using reckon_model_concept = capabilities<sampling_model_tag, outcome_reward_model_tag>;
  } plain(s);
  compute_optimal_params fe;
  fe.table.edges = {};
  fe.table.bins = {co_choice{co_method::free_energy, 4, 0.0}};
  CHECK(compute_optimal(fe).run(plain, plain, p, budget{}, st).error().code == errc::invalid_argument);
  compute_optimal_params pr;
  pr.table.edges = {};
  pr.table.bins = {co_choice{co_method::best_prm, 4, 0.0}};
  CHECK(compute_optimal(pr).run(plain, plain, p, budget{}, st).error().code == errc::invalid_argument);
}

TEST_CASE("reckon-eval: zip-rc, odar, slow-best-of-5 and compute-optimal run through the harness",
          "[strategy][compute_optimal][eval]") {
  eval::strategy_registry registry;
  eval::register_builtin_strategies(registry);
  eval::register_adaptive(registry);
  for (const char* name : {"zip-rc", "odar", "slow-best-of-5", "compute-optimal"}) {
    const auto* e = registry.find(name);
    REQUIRE(e != nullptr);
    CHECK(e->synthetic);
  }
  const auto s = testing::make_suite("mixed", testing::default_suite_seed, 40).value();
  eval::grid_params grid;
  grid.strategies = {"majority", "zip-rc", "odar", "slow-best-of-5", "compute-optimal"};
  grid.budgets = {4};
  grid.seed = 7;
  grid.threads = 2;
  auto rows = eval::run_grid(s, registry, grid);
  REQUIRE(rows);
  REQUIRE(rows->size() == 5);
  for (const auto& row : *rows) {
    std::printf("%s n=%u: acc %.3f tokens %.1f errors %zu %s\n", row.strategy.c_str(), row.budget, row.accuracy,
                row.tokens_mean, row.errors, row.first_error.c_str());
    CHECK(row.errors == 0);
    CHECK(row.answered == 40);
    CHECK(row.accuracy >= 0.5); // a sanity floor (one sample: ~0.6); accuracy claims live in each strategy's test
  }
  for (std::size_t i = 1; i < rows->size(); ++i) CHECK((*rows)[i].tokens_mean > 0.0); // odar's agents counted too
  grid.threads = 1;
  auto again = eval::run_grid(s, registry, grid);
  REQUIRE(again);
  CHECK(*again == *rows); // identical at any thread count
}
