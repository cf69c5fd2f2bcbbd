// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

using namespace reckon;

namespace {
/// Four samples whose scores fix the winner: answer 3 is the top single sample (0.9, third of
/// four, so neither the first nor the last sample), answer 2 the top sum (0.6 + 0.6 = 1.2).
struct bon_script {
  test::script_sampler model{.texts = test::boxed({"1", "2", "3", "2"})};
  test::script_scorer reward{.score = {{"\\boxed{1}", 0.5}, {"\\boxed{2}", 0.6}, {"\\boxed{3}", 0.9}}};
  problem p{.id = 1, .prompt = "?"};
};

/// A reward model that takes `delay` per call (its time must reach the run's ledger).
struct bon_slow_orm {
  using reckon_model_concept = outcome_reward_model_tag;
  std::chrono::milliseconds delay{30};
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> c) {
    std::this_thread::sleep_for(delay);
    return std::vector<double>(c.size(), 0.5);
  }
};

/// A scorer whose scores are negative (not a log scorer): weighted selection cannot use them.
struct bon_negative_scorer {
  template <class R>
  static constexpr bool accepts = outcome_reward_model<R>;
  template <class R>
  result<std::vector<double>> operator()(R& reward, const problem& p, std::span<const completion> samples,
                                         std::string_view delimiter) const {
    auto s = orm_scorer{}(reward, p, samples, delimiter);
    if (!s) return s;
    for (double& x : *s) x -= 2.0;
    return s;
  }
};

/// An answer key that throws a standard exception.
struct bon_throwing_key {
  std::optional<std::string> operator()(const completion&) const { throw std::runtime_error("key exploded"); }
};

/// A reward model that throws.
struct bon_throwing_prm {
  using reckon_model_concept = process_reward_model_tag;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view>) {
    throw std::runtime_error("prm exploded");
  }
};
} // namespace

TEST_CASE("issue #20: scores fix the winner: naive takes the top sample, weighted the top sum", "[strategy][best_of_n]") {
  const best_of_n_params bp{.n = 4};
  auto run = [](const auto& strategy) {
    bon_script s;
    auto r = strategy.run(s.model, s.reward, s.p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->samples == 4);
    CHECK(s.reward.calls == 1);
    return *r;
  };
  for (const auto& r : {run(basic_best_of_n<select_naive, orm_scorer, canonical_answer_key>(bp)),
                        run(basic_best_of_n<select_naive, prm_scorer<reduce_last>, canonical_answer_key>(bp)),
                        run(basic_best_of_n<select_naive, prm_scorer<reduce_log_prod>, canonical_answer_key>(bp))}) {
    CHECK(r.answer == "3");
    CHECK(r.confidence == test::Approx(0.9)); // the picked sample's reward (exp of the log-product)
    // Naive's tally is the plurality of the samples' answers: "2" twice, "1" and "3" once.
    REQUIRE(r.tally.answers.size() == 3);
    CHECK(r.tally.answers[0].answer == "2");
    CHECK(r.tally.answers[0].count == 2);
    CHECK(r.tally.find("3")->weight == 1.0);
  }
  for (const auto& r : {run(basic_best_of_n<select_weighted, orm_scorer, canonical_answer_key>(bp)),
                        run(basic_best_of_n<select_weighted, prm_scorer<reduce_last>, canonical_answer_key>(bp)),
                        run(basic_best_of_n<select_weighted, prm_scorer<reduce_log_prod>, canonical_answer_key>(bp))}) {
    CHECK(r.answer == "2");
    CHECK(r.confidence == test::Approx(1.2 / 2.6)); // the winner's share of the summed scores
    CHECK(r.tally.find("3")->share == test::Approx(0.9 / 2.6));
  }
}

TEST_CASE("regression #13.4: best-of-N never passes max_prm_tokens; it scores the samples that fit", "[strategy][best_of_n][budget]") {
  // Each sample "\\boxed{k}" is 9 characters: 3 prm tokens by metered's estimate; 4 samples cost 12.
  const best_of_n bon(best_of_n_params{.n = 4});
  {
    bon_script s;
    budget b;
    b.max_prm_tokens = 10; // three samples fit
    auto r = bon.run(s.model, s.reward, s.p, b, random_stream{});
    REQUIRE(r);
    CHECK(r->cost.prm_tokens == 9);
    CHECK(r->cost.prm_calls == 1);
    CHECK(r->samples == 3);
    CHECK(r->stopped_by == stop_reason::prm_tokens);
    CHECK(r->answer == "3"); // the top sample is among the three scored
  }
  {
    bon_script s;
    budget b;
    b.max_prm_tokens = 2; // not one sample fits: the samples are used unscored
    auto r = bon.run(s.model, s.reward, s.p, b, random_stream{});
    REQUIRE(r);
    CHECK(s.reward.calls == 0);
    CHECK(r->cost.prm_calls == 0);
    CHECK(r->cost.prm_tokens == 0);
    CHECK(r->stopped_by == stop_reason::prm_tokens);
    CHECK(r->samples == 4);
    CHECK(r->answer == "2"); // their plurality
    CHECK(r->confidence == test::Approx(0.5));
    CHECK(r->cost.generated_tokens == 4);
  }
}

TEST_CASE("regression #13.4: best-of-N checks prm calls before its reward call", "[strategy][best_of_n][budget]") {
  bon_script s;
  budget b;
  b.max_prm_calls = 0;
  auto r = weighted_best_of_n(best_of_n_params{.n = 4}).run(s.model, s.reward, s.p, b, random_stream{});
  REQUIRE(r);
  CHECK(s.reward.calls == 0);
  CHECK(r->cost.prm_calls == 0);
  CHECK(r->stopped_by == stop_reason::prm_calls);
  CHECK(r->answer == "2");
}

TEST_CASE("regression #13.4: best-of-N's ledger counts the reward model's wall time", "[strategy][best_of_n][budget]") {
  test::script_sampler model{.texts = test::boxed({"1"})};
  bon_slow_orm slow;
  const basic_best_of_n<select_naive, orm_scorer, canonical_answer_key> bon(best_of_n_params{.n = 2});
  auto r = bon.run(model, slow, problem{.id = 1, .prompt = "?"}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->cost.wall_seconds >= 0.03);
}

TEST_CASE("regression #13.8: naive best-of-N with reduce_log_prod needs no weighted tally", "[strategy][best_of_n]") {
  // Real PRM scores: log-products are negative, which a weighted tally refused (it threw).
  const auto suite = test::shared_suite("mixed", 10);
  testing::synthetic_model model(suite);
  const basic_best_of_n<select_naive, prm_scorer<reduce_log_prod>, canonical_answer_key> naive_log(best_of_n_params{.n = 8});
  const basic_best_of_n<select_naive, prm_scorer<reduce_prod>, canonical_answer_key> naive_prod(best_of_n_params{.n = 8});
  for (const auto& q : suite->problems) {
    const random_stream s(stream_key{.seed = 4, .problem = q.id});
    auto a = naive_log.run(model, model, q.as_problem(), budget{}, s);
    auto b = naive_prod.run(model, model, q.as_problem(), budget{}, s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->answer == b->answer); // log-product ranks as the product
    CHECK(a->confidence == test::Approx(b->confidence));
    CHECK(a->tally.votes + a->tally.abstentions == 8);
  }
}

TEST_CASE("regression #13.8: best-of-N returns errors, never throws", "[strategy][best_of_n][errors]") {
  bon_script s;
  const best_of_n_params bp{.n = 4};
  auto r1 = basic_best_of_n<select_naive, prm_scorer<reduce_last>, bon_throwing_key>(bp).run(s.model, s.reward, s.p, budget{}, random_stream{});
  REQUIRE_FALSE(r1);
  CHECK(r1.error().code == errc::engine_failure);
  CHECK(r1.error().message.find("key exploded") != std::string::npos);
  auto r2 = basic_best_of_n<select_weighted, bon_negative_scorer, canonical_answer_key>(bp).run(s.model, s.reward, s.p, budget{}, random_stream{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == errc::invalid_argument);
  CHECK(r2.error().message.find("weights must be finite and >= 0") != std::string::npos);
  // Naive selection only ranks scores: negative ones are fine, and the top one still wins.
  auto r3 = basic_best_of_n<select_naive, bon_negative_scorer, canonical_answer_key>(bp).run(s.model, s.reward, s.p, budget{}, random_stream{});
  REQUIRE(r3);
  CHECK(r3->answer == "3");
  CHECK(r3->confidence == 0.0); // a score below 0 clamps to 0
  bon_throwing_prm thrower;
  auto r4 = best_of_n(bp).run(s.model, thrower, s.p, budget{}, random_stream{});
  REQUIRE_FALSE(r4);
  CHECK(r4.error().code == errc::engine_failure);
  CHECK(r4.error().message.find("prm exploded") != std::string::npos);
}

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

TEST_CASE("best-of-n reports hostile sampling models clearly", "[strategy][best_of_n][errors]") {
  test::script_scorer reward;
  const problem p{.id = 1, .prompt = "?"};
  const best_of_n bon(best_of_n_params{.n = 4});
  test::throwing_model thrower;
  auto r1 = bon.run(thrower, reward, p, budget{}, random_stream{});
  REQUIRE_FALSE(r1);
  CHECK(r1.error().code == errc::engine_failure);
  test::short_model too_few;
  auto r2 = bon.run(too_few, reward, p, budget{}, random_stream{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message.find("3 completions for a request of 4") != std::string::npos);
  test::long_model too_many;
  auto r3 = bon.run(too_many, reward, p, budget{}, random_stream{});
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message.find("5 completions for a request of 4") != std::string::npos);
  CHECK(reward.calls == 0);
}

TEST_CASE("best-of-n stops within each budget limit in turn", "[strategy][best_of_n][budget]") {
  // Samples cost 1 token each of a 10-token cap, so rounds are sized by the worst case (tokens
  // left / 10) and a token budget splits the n = 64 samples over several calls.
  const best_of_n bon(best_of_n_params{.n = 64, .sampling = sampling_params{.max_tokens = 10}});
  auto run = [&](const budget& b) {
    bon_script s;
    s.model.prefill = 2;
    auto r = bon.run(s.model, s.reward, s.p, b, random_stream{});
    REQUIRE(r);
    return *r;
  };
  budget generated;
  generated.max_generated_tokens = 30;
  const auto g = run(generated);
  CHECK(g.cost.generated_tokens <= 30);
  CHECK(g.stopped_by == stop_reason::generated_tokens);
  CHECK(g.cost.prm_calls == 1); // the samples paid for are scored
  budget total;
  total.max_total_tokens = 40;
  const auto t = run(total);
  CHECK(t.cost.total_tokens() <= 40);
  CHECK(t.stopped_by == stop_reason::total_tokens);
  CHECK(t.cost.prm_calls == 1);
  budget calls = generated;
  calls.max_engine_calls = 2; // rounds of 3 and 2 samples, then the call limit
  const auto c = run(calls);
  CHECK(c.cost.engine_calls == 2);
  CHECK(c.samples == 5);
  CHECK(c.stopped_by == stop_reason::engine_calls);
  CHECK(c.cost.prm_calls == 1);
  budget prm_calls;
  prm_calls.max_prm_calls = 0;
  const auto pc = run(prm_calls); // sampling spends no reward call: the samples come, unscored
  CHECK(pc.samples == 64);
  CHECK(pc.cost.prm_calls == 0);
  CHECK(pc.stopped_by == stop_reason::prm_calls);
  budget prm_tokens;
  prm_tokens.max_prm_tokens = 20; // 3 tokens a sample: 6 of the 64 fit
  const auto pt = run(prm_tokens);
  CHECK(pt.cost.prm_tokens == 18);
  CHECK(pt.samples == 6);
  CHECK(pt.stopped_by == stop_reason::prm_tokens);
}
