// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/deepconf.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

using namespace reckon;

TEST_CASE("token confidence is the negative mean top-k logprob", "[strategy][deepconf]") {
  token_stats s;
  s.top_k = 3;
  s.top_logprobs = {-0.1f, -2.0f, -3.0f, -1.0f, -1.0f, -1.5f};
  const auto c = deepconf::token_confidences(s, 2);
  REQUIRE(c.size() == 2);
  CHECK(c[0] == test::Approx((0.1 + 2.0) / 2).epsilon(1e-6));
  CHECK(c[1] == test::Approx(1.0).epsilon(1e-6));
  CHECK_THROWS_AS(deepconf::token_confidences(s, 4), reckon::exception);
  s.top_logprobs[0] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(deepconf::token_confidences(s, 2), reckon::exception);
}

TEST_CASE("group confidences and trace scores", "[strategy][deepconf]") {
  const std::vector<double> c{4, 4, 1, 1, 4, 4};
  CHECK(deepconf::group_confidences(c, 2) == std::vector<double>{4, 2.5, 1, 2.5, 4});
  CHECK(deepconf::group_confidences(c, 10) == std::vector<double>{3}); // shorter than the window: one group
  CHECK(deepconf::score(c, trace_score::mean, 2) == test::Approx(3.0));
  CHECK(deepconf::score(c, trace_score::lowest_group, 2) == test::Approx(1.0));
  CHECK(deepconf::score(c, trace_score::bottom_10, 2) == test::Approx(1.0));
  CHECK(deepconf::score(c, trace_score::tail, 2) == test::Approx(4.0));
  CHECK(deepconf::percentile({1, 2, 3, 4, 5}, 90) == test::Approx(4.6));
  CHECK(deepconf::percentile({7}, 10) == test::Approx(7));
}

TEST_CASE("online DeepConf spends fewer tokens than offline at similar accuracy", "[strategy][deepconf][statistics]") {
  // 300 mixed problems, seed 1, the paper's parameters (k = 20, window 2048, DeepConf-low eta = 10,
  // n_init = 16, consensus 0.95) at n = 32. Measured: offline 0.780, online 0.790 at 76% of the
  // tokens. Stated tolerance: online accuracy within 4 points of offline, at most 85% of its tokens.
  const auto suite = test::shared_suite("mixed", 300);
  testing::synthetic_model model(suite);
  deepconf_params dp;
  dp.n = 32;
  const deepconf_offline_strategy offline(dp);
  const deepconf_online_strategy online(dp);
  const auto off = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return offline.run(model, p, budget{}, s); });
  const auto on = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return online.run(model, p, budget{}, s); });
  CHECK(on.accuracy >= off.accuracy - 0.04);
  CHECK(on.mean_generated <= 0.85 * off.mean_generated);
}

TEST_CASE("online DeepConf cuts low-confidence traces early on a stepping model", "[strategy][deepconf]") {
  // A window shorter than the traces lets the online check fire mid-trace: some traces are cut.
  const auto suite = test::shared_suite("hard", 40);
  testing::synthetic_model model(suite);
  deepconf_params dp;
  dp.n = 32;
  dp.window = 32;
  dp.eta = 10;
  dp.consensus = 1.0; // never stop on consensus: every batch runs
  const deepconf_online_strategy online(dp);
  std::size_t cut = 0;
  for (const auto& q : suite->problems) {
    auto r = online.run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 5, .problem = q.id}));
    REQUIRE(r);
    for (const auto& e : r->trace) {
      const auto at = e.what.find(" cut below");
      if (at != std::string::npos) cut += std::stoul(e.what.substr(e.what.find(", ") + 2));
    }
  }
  CHECK(cut > 100);
}

namespace {
/// A sampling-only model with top-k logprobs (the synthetic model seen through sample() only).
struct sampling_only {
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
  testing::synthetic_model* inner;
  result<sample_batch> sample(const problem& p, const sampling_params& s, std::uint32_t n) { return inner->sample(p, s, n); }
};
} // namespace

TEST_CASE("online DeepConf on a sampling-only model says it cannot stop early", "[strategy][deepconf]") {
  const auto suite = test::shared_suite("mixed", 5);
  testing::synthetic_model model(suite);
  sampling_only only{&model};
  deepconf_params dp;
  dp.n = 16;
  dp.n_init = 4;
  const deepconf_online_strategy online(dp);
  auto r = online.run(only, suite->problems[0].as_problem(), budget{}, random_stream{});
  REQUIRE(r);
  bool said = false;
  for (const auto& e : r->trace) said = said || e.what.find("cannot stop early") != std::string::npos;
  CHECK(said);
}

TEST_CASE("DeepConf rejects bad parameters and models without top-k", "[strategy][deepconf][errors]") {
  const auto suite = test::shared_suite("mixed", 2);
  testing::synthetic_model model(suite);
  const problem p = suite->problems[0].as_problem();
  deepconf_params bad;
  bad.eta = 0;
  CHECK(deepconf_offline_strategy(bad).run(model, p, budget{}, random_stream{}).error().code == errc::invalid_argument);
  bad = deepconf_params{};
  bad.n_init = 100;
  bad.n = 10;
  CHECK(deepconf_online_strategy(bad).run(model, p, budget{}, random_stream{}).error().code == errc::invalid_argument);
  deepconf_params wide;
  wide.top_k = 50; // more than the synthetic model serves
  CHECK_FALSE(deepconf_offline_strategy(wide).run(model, p, budget{}, random_stream{}).has_value());
  budget none;
  none.max_engine_calls = 0;
  auto r = deepconf_online_strategy(deepconf_params{}).run(model, p, none, random_stream{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::budget_exhausted);
}
