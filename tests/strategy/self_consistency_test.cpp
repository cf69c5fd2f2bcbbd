// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

using namespace reckon;

TEST_CASE("majority vote recovers the gold on easy problems and stops within n", "[strategy][self_consistency]") {
  const auto suite = test::shared_suite("easy", 60);
  testing::synthetic_model model(suite);
  const self_consistency sc(self_consistency_params{.n = 8});
  const auto sweep = test::run_suite(*suite, [&](const problem& p, const random_stream& s) {
    auto r = sc.run(model, p, budget{}, s);
    REQUIRE(r);
    CHECK(r->samples == 8);
    CHECK(r->cost.engine_calls == 1); // fixed n: one batched call
    return r;
  });
  CHECK(sweep.accuracy > 0.7);
}

TEST_CASE("adaptive self-consistency matches fixed n at lower cost on easy", "[strategy][self_consistency][statistics]") {
  // 300 easy problems, seed 1. Stated tolerance: adaptive accuracy within 3 points of fixed n = 32,
  // at no more than 60% of its mean generated tokens.
  const auto suite = test::shared_suite("easy", 300);
  testing::synthetic_model model(suite);
  const self_consistency fixed(self_consistency_params{.n = 32});
  const adaptive_self_consistency adaptive(self_consistency_params{.n = 32});
  const auto a = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return fixed.run(model, p, budget{}, s); });
  const auto b = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return adaptive.run(model, p, budget{}, s); });
  CHECK(b.accuracy >= a.accuracy - 0.03);
  CHECK(b.mean_generated <= 0.6 * a.mean_generated);
}

TEST_CASE("ESC and supermajority stop early on unanimous problems", "[strategy][self_consistency]") {
  const auto suite = test::shared_suite("easy", 40);
  testing::synthetic_model model(suite);
  const esc_self_consistency esc(self_consistency_params{.n = 40}, stop_window{.window = 5});
  const supermajority_self_consistency sm(self_consistency_params{.n = 64});
  std::size_t esc_early = 0, sm_early = 0;
  for (const auto& q : suite->problems) {
    const random_stream s(stream_key{.seed = 3, .problem = q.id});
    auto r1 = esc.run(model, q.as_problem(), budget{}, s);
    auto r2 = sm.run(model, q.as_problem(), budget{}, s);
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK(r1->samples % 5 == 0);
    esc_early += r1->samples < 40 ? 1 : 0;
    sm_early += r2->samples < 64 ? 1 : 0;
    // Supermajority rounds double the total: 2, 4, 8, ...
    CHECK((r2->samples & (r2->samples - 1)) == 0);
  }
  CHECK(esc_early > 30);
  CHECK(sm_early > 30);
}

TEST_CASE("leader_posterior is the Beta rule", "[strategy][stopping]") {
  CHECK(leader_posterior(0, 0) == test::Approx(0.5));
  CHECK(leader_posterior(1, 0) == test::Approx(0.75));      // P(Bin(2, .5) <= 1)
  CHECK(leader_posterior(3, 0) == test::Approx(15.0 / 16)); // P(Bin(4, .5) <= 3)
  CHECK(leader_posterior(5, 5) == test::Approx(0.5));
  CHECK(leader_posterior(400, 300) > 0.999);
  CHECK(leader_posterior(4, 0) > 0.95);
  CHECK(leader_posterior(3, 0) < 0.95);
}

TEST_CASE("self-consistency stops within its token budget", "[strategy][self_consistency][budget]") {
  const auto suite = test::shared_suite("mixed", 20);
  testing::synthetic_model model(suite);
  const self_consistency sc(self_consistency_params{.n = 64, .sampling = sampling_params{.max_tokens = 1000}});
  for (const auto& q : suite->problems) {
    const random_stream s(stream_key{.seed = 1, .problem = q.id});
    budget b;
    b.max_generated_tokens = 6000;
    auto r = sc.run(model, q.as_problem(), b, s);
    REQUIRE(r);
    CHECK(r->cost.generated_tokens <= 6000);
    CHECK((r->stopped_by.has_value() || r->samples == 64));
  }
  budget tiny;
  tiny.max_generated_tokens = 10; // less than one sample's max_tokens
  auto r = sc.run(model, suite->problems[0].as_problem(), tiny, random_stream{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::budget_exhausted);
}

TEST_CASE("self-consistency reports misbehaving models clearly", "[strategy][self_consistency][errors]") {
  const self_consistency sc(self_consistency_params{.n = 4});
  const problem p{.id = 1, .prompt = "?"};
  test::failing_model down;
  auto r1 = sc.run(down, p, budget{}, random_stream{});
  REQUIRE_FALSE(r1);
  CHECK(r1.error().code == errc::engine_failure);
  test::throwing_model thrower;
  auto r2 = sc.run(thrower, p, budget{}, random_stream{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == errc::engine_failure);
  test::short_model short_of_one;
  auto r3 = sc.run(short_of_one, p, budget{}, random_stream{});
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message.find("3 completions for a request of 4") != std::string::npos);
  test::mute_model mute;
  auto r4 = sc.run(mute, p, budget{}, random_stream{});
  REQUIRE(r4);
  CHECK_FALSE(r4->answer.has_value());
  CHECK(r4->tally.abstentions == 4);
  auto r5 = self_consistency(self_consistency_params{.n = 0}).run(mute, p, budget{}, random_stream{});
  REQUIRE_FALSE(r5);
  CHECK(r5.error().code == errc::invalid_argument);
}
