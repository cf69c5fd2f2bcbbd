// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <stdexcept>

using namespace reckon;

namespace {
/// An answer key that throws a standard exception (not a reckon::exception).
struct sc_throwing_key {
  std::optional<std::string> operator()(const completion&) const { throw std::runtime_error("key exploded"); }
};
/// A vote weight that is negative.
struct sc_negative_weight {
  double operator()(const completion&) const { return -1.0; }
};
} // namespace

TEST_CASE("majority vote of 8 beats one sample on easy problems and stops within n", "[strategy][self_consistency]") {
  // 300 easy problems, seed 1. Stated margin: the vote of 8 at least 8 points above n = 1 (one
  // sample's answer); measured 0.870 vs 0.740.
  const auto suite = test::shared_suite("easy", 300);
  testing::synthetic_model model(suite);
  const self_consistency sc(self_consistency_params{.n = 8});
  const self_consistency one(self_consistency_params{.n = 1});
  const auto sweep = test::run_suite(*suite, [&](const problem& p, const random_stream& s) {
    auto r = sc.run(model, p, budget{}, s);
    REQUIRE(r);
    CHECK(r->samples == 8);
    CHECK(r->cost.engine_calls == 1); // fixed n: one batched call
    return r;
  });
  const auto single = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return one.run(model, p, budget{}, s); });
  CHECK(sweep.accuracy >= single.accuracy + 0.08);
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

TEST_CASE("regression #13.12: ESC after a round the budget cut short stops at the first unanimous window", "[strategy][self_consistency][budget]") {
  // Samples cost 1 token of a 10-token cap: 40 tokens afford 4 of the first window of 5. The next
  // round completes that window (1 sample), which is unanimous: 5 samples, not 10.
  test::script_sampler model{.texts = test::boxed({"7"})};
  const esc_self_consistency esc(self_consistency_params{.n = 40, .sampling = sampling_params{.max_tokens = 10}},
                                 stop_window{.window = 5});
  budget b;
  b.max_generated_tokens = 40;
  auto r = esc.run(model, problem{.id = 1, .prompt = "?"}, b, random_stream{});
  REQUIRE(r);
  CHECK(model.requests == std::vector<std::uint32_t>{4, 1});
  CHECK(r->samples == 5);
  CHECK(r->answer == "7");
  CHECK_FALSE(r->stopped_by.has_value());
}

TEST_CASE("regression #13.12: ESC answers with the unanimous window's answer", "[strategy][self_consistency]") {
  // Windows of 5: A A A A B | A A A B B | C C C C C. The vote over all 15 says A (7 votes); ESC's
  // reference returns the unanimous window's answer, C.
  test::script_sampler model{.texts = test::boxed({"1", "1", "1", "1", "2", "1", "1", "1", "2", "2", "3", "3", "3", "3", "3"})};
  const esc_self_consistency esc(self_consistency_params{.n = 40}, stop_window{.window = 5});
  auto r = esc.run(model, problem{.id = 1, .prompt = "?"}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->samples == 15);
  CHECK(model.requests == std::vector<std::uint32_t>{5, 5, 5});
  CHECK(r->answer == "3");
  CHECK(r->tally.winner() == "1"); // the tally stays the vote over every sample
  CHECK(r->confidence == test::Approx(5.0 / 15.0));
}

TEST_CASE("ESC with no unanimous window answers with the vote over all samples", "[strategy][self_consistency]") {
  test::script_sampler model{.texts = test::boxed({"1", "1", "1", "1", "2", "1", "1", "1", "2", "2"})};
  const esc_self_consistency esc(self_consistency_params{.n = 10}, stop_window{.window = 5});
  auto r = esc.run(model, problem{.id = 1, .prompt = "?"}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->samples == 10);
  CHECK(r->answer == "1");
  CHECK(r->confidence == test::Approx(0.7));
  // A window of samples without an answer is not unanimous.
  test::mute_model mute;
  auto m = esc.run(mute, problem{.id = 1, .prompt = "?"}, budget{}, random_stream{});
  REQUIRE(m);
  CHECK(m->samples == 10);
  CHECK_FALSE(m->answer.has_value());
}

TEST_CASE("regression #13.22: self-consistency turns anything its policies throw into an error", "[strategy][self_consistency][errors]") {
  test::script_sampler model{.texts = test::boxed({"1"})};
  const problem p{.id = 1, .prompt = "?"};
  auto r1 = basic_self_consistency<stop_never, unit_weight, sc_throwing_key>(self_consistency_params{.n = 4})
                .run(model, p, budget{}, random_stream{});
  REQUIRE_FALSE(r1);
  CHECK(r1.error().code == errc::engine_failure);
  CHECK(r1.error().message.find("key exploded") != std::string::npos);
  auto r2 = basic_self_consistency<stop_never, sc_negative_weight, canonical_answer_key>(self_consistency_params{.n = 4})
                .run(model, p, budget{}, random_stream{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == errc::invalid_argument);
  auto r3 = esc_self_consistency(self_consistency_params{.n = 4}, stop_window{.window = 0}).run(model, p, budget{}, random_stream{});
  REQUIRE_FALSE(r3);
  CHECK(r3.error().code == errc::invalid_argument);
  test::long_model too_many;
  auto r4 = self_consistency(self_consistency_params{.n = 4}).run(too_many, p, budget{}, random_stream{});
  REQUIRE_FALSE(r4);
  CHECK(r4.error().message.find("5 completions for a request of 4") != std::string::npos);
}

TEST_CASE("self-consistency stops within each sampling limit in turn", "[strategy][self_consistency][budget]") {
  // Answers never repeat a window, so only the budget stops ESC's windows of 5 (n = 64).
  const esc_self_consistency esc(self_consistency_params{.n = 64, .sampling = sampling_params{.max_tokens = 10}},
                                 stop_window{.window = 5});
  auto run = [&](const budget& b) {
    test::script_sampler model{.texts = test::boxed({"1", "2"}), .prefill = 2};
    auto r = esc.run(model, problem{.id = 1, .prompt = "?"}, b, random_stream{});
    REQUIRE(r);
    return *r;
  };
  budget generated;
  generated.max_generated_tokens = 30;
  const auto g = run(generated);
  CHECK(g.cost.generated_tokens <= 30);
  CHECK(g.stopped_by == stop_reason::generated_tokens);
  budget total;
  total.max_total_tokens = 40;
  const auto t = run(total);
  CHECK(t.cost.total_tokens() <= 40);
  CHECK(t.stopped_by == stop_reason::total_tokens);
  budget calls;
  calls.max_engine_calls = 3;
  const auto c = run(calls);
  CHECK(c.cost.engine_calls == 3);
  CHECK(c.samples == 15);
  CHECK(c.stopped_by == stop_reason::engine_calls);
  budget no_reward; // reward-model limits do not stop sampling
  no_reward.max_prm_calls = 0;
  no_reward.max_prm_tokens = 0;
  const auto n = run(no_reward);
  CHECK(n.samples == 64);
  CHECK_FALSE(n.stopped_by.has_value());
}

TEST_CASE("regression: sampling rounds reserve the prefill under max_total_tokens", "[strategy][self_consistency][budget]") {
  // Every sample reaches its 10-token cap and every call prefills 5 tokens. The prompt's 20
  // characters estimate the first call's prefill (5); later calls reserve the prefill seen.
  const self_consistency sc(self_consistency_params{.n = 16, .sampling = sampling_params{.max_tokens = 10}});
  const problem p{.id = 1, .prompt = "What is 6 times 7??"};
  REQUIRE(p.prompt.size() == 19); // ceil(19 / 4) = 5
  for (const std::uint64_t limit : {40u, 100u, 121u}) {
    test::script_sampler model{.texts = test::boxed({"42"}), .tokens = 10, .prefill = 5};
    budget b;
    b.max_total_tokens = limit;
    auto r = sc.run(model, p, b, random_stream{});
    REQUIRE(r);
    CHECK(r->cost.total_tokens() <= limit);
    CHECK(r->cost.total_tokens() + 15 > limit); // it stops only when one more sample cannot fit
    CHECK(r->stopped_by == stop_reason::total_tokens);
  }
}
