// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

using namespace reckon;

TEST_CASE("split_steps keeps delimiters and a trailing remainder", "[strategy][best_of_n]") {
  using detail::split_steps;
  CHECK(split_steps("a\n\nb\n\nc", "\n\n") == std::vector<std::string>{"a\n\n", "b\n\n", "c"});
  CHECK(split_steps("a\n\n", "\n\n") == std::vector<std::string>{"a\n\n"});
  CHECK(split_steps("", "\n\n") == std::vector<std::string>{""});
}

TEST_CASE("weighted best-of-n with a good PRM beats majority on hard", "[strategy][best_of_n][statistics]") {
  // 300 hard problems, n = 16, seed 1, PRM separation 3 (AUC 0.98). Stated margin: at least 3
  // points of accuracy over the plain majority vote of the same samples' budget.
  const auto suite = test::shared_suite("hard", 300);
  testing::synthetic_params good;
  good.prm.separation = 3.0;
  testing::synthetic_model model(suite, good);
  const weighted_best_of_n wbon(best_of_n_params{.n = 16});
  const self_consistency majority(self_consistency_params{.n = 16});
  const auto w = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return wbon.run(model, model, p, budget{}, s); });
  const auto m = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return majority.run(model, p, budget{}, s); });
  CHECK(w.accuracy >= m.accuracy + 0.03);
  CHECK(w.mean_generated == test::Approx(m.mean_generated)); // the same samples: same seeds, same n
}

TEST_CASE("every reduction and selection runs, and costs one reward call", "[strategy][best_of_n]") {
  const auto suite = test::shared_suite("mixed", 10);
  testing::synthetic_model model(suite);
  const problem p = suite->problems[0].as_problem();
  const random_stream s(stream_key{.seed = 4, .problem = p.id});
  auto check = [&](const auto& strategy) {
    auto r = strategy.run(model, model, p, budget{}, s);
    REQUIRE(r);
    CHECK(r->samples == 8);
    CHECK(r->cost.prm_calls == 1);
    CHECK(r->answer.has_value());
    CHECK(r->confidence >= 0.0);
    CHECK(r->confidence <= 1.0);
  };
  const best_of_n_params bp{.n = 8};
  check(basic_best_of_n<select_naive, orm_scorer, canonical_answer_key>(bp));
  check(basic_best_of_n<select_naive, prm_scorer<reduce_min>, canonical_answer_key>(bp));
  check(basic_best_of_n<select_weighted, prm_scorer<reduce_prod>, canonical_answer_key>(bp));
  check(basic_best_of_n<select_weighted, prm_scorer<reduce_mean>, canonical_answer_key>(bp));
  check(best_of_n(bp));
}

namespace {
/// A PRM that misbehaves in a chosen way.
struct bad_prm {
  using reckon_model_concept = process_reward_model_tag;
  int mode = 0;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) {
    std::vector<std::vector<double>> out;
    for (const auto& v : c) out.emplace_back(v.steps.size(), 0.5);
    if (mode == 0) out.pop_back();                                             // too few
    if (mode == 1) out[0][0] = std::numeric_limits<double>::quiet_NaN();       // NaN
    if (mode == 2) out[0].push_back(0.5);                                      // wrong step count
    if (mode == 3) out[0][0] = 1.5;                                            // out of range
    return out;
  }
};
} // namespace

TEST_CASE("best-of-n reports bad reward models and budgets clearly", "[strategy][best_of_n][errors]") {
  const auto suite = test::shared_suite("mixed", 4);
  testing::synthetic_model model(suite);
  const problem p = suite->problems[0].as_problem();
  const best_of_n bon(best_of_n_params{.n = 4});
  for (int mode = 0; mode < 4; ++mode) {
    bad_prm prm{mode};
    auto r = bon.run(model, prm, p, budget{}, random_stream{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
  }
  budget b;
  b.max_generated_tokens = 1;
  auto r = bon.run(model, model, p, b, random_stream{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::budget_exhausted);
  test::failing_model down;
  auto r2 = bon.run(down, model, p, budget{}, random_stream{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == errc::engine_failure);
  CHECK_FALSE(best_of_n(best_of_n_params{.n = 0}).run(model, model, p, budget{}, random_stream{}).has_value());
}

TEST_CASE("best-of-n stops within a token budget", "[strategy][best_of_n][budget]") {
  const auto suite = test::shared_suite("mixed", 10);
  testing::synthetic_model model(suite);
  const best_of_n bon(best_of_n_params{.n = 64, .sampling = sampling_params{.max_tokens = 1024}});
  for (const auto& q : suite->problems) {
    budget b;
    b.max_generated_tokens = 5000;
    auto r = bon.run(model, model, q.as_problem(), b, random_stream(stream_key{.seed = 2, .problem = q.id}));
    REQUIRE(r);
    CHECK(r->cost.generated_tokens <= 5000);
    CHECK(r->samples < 64);
  }
}
