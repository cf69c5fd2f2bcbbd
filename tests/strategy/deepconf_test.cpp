// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/deepconf.hpp>
#include <reckon/strategy/self_consistency.hpp>

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

TEST_CASE("offline DeepConf beats majority at the same n; online matches offline for fewer tokens",
          "[strategy][deepconf][statistics]") {
  // 200 mixed problems, seed 1, the paper's parameters (k = 20, window 2048, DeepConf-low eta = 10,
  // n_init = 16, consensus 0.95) at n = 32. Measured: majority 0.695, offline 0.770, online 0.780
  // at 77% of offline's tokens. Keeping the least confident traces instead (the filter inverted)
  // falls to 0.485. Stated tolerances: offline at least 3 points above majority; online within 4
  // points of offline, at most 85% of its tokens.
  const auto suite = test::lenient_suite("mixed", 200);
  testing::synthetic_model model(suite, testing::lenient_params());
  deepconf_params dp;
  dp.n = 32;
  const deepconf_offline_strategy offline(dp);
  const deepconf_online_strategy online(dp);
  const self_consistency majority({.n = 32});
  const auto maj = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return majority.run(model, p, budget{}, s); });
  const auto off = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return offline.run(model, p, budget{}, s); });
  const auto on = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return online.run(model, p, budget{}, s); });
  CHECK(off.accuracy >= maj.accuracy + 0.03);
  CHECK(on.accuracy >= off.accuracy - 0.04);
  CHECK(on.mean_generated <= 0.85 * off.mean_generated);
}

TEST_CASE("online DeepConf cuts low-confidence traces early on a stepping model", "[strategy][deepconf]") {
  // A window shorter than the traces lets the online check fire mid-trace. With eta = 10 the
  // threshold sits between the 14th and 15th of 16 warm-up lowest-group confidences, so a later
  // trace falls below it with probability about 14.5 / 17 = 0.85. Measured: 292 of 368 later
  // traces cut (0.79). An inverted threshold (percentile eta instead of 100 - eta) cuts 91 of 624;
  // cutting above it instead of below cuts all 368. Stated tolerance: 292 +- 40 cuts, a fraction
  // in [0.70, 0.90], at least 80% of them stopped mid-trace (measured 276).
  const auto suite = test::lenient_suite("hard", 40);
  testing::synthetic_model model(suite, testing::lenient_params());
  deepconf_params dp;
  dp.n = 32;
  dp.window = 32;
  dp.eta = 10;
  dp.consensus = 1.0; // never stop on consensus: every batch runs
  const deepconf_online_strategy online(dp);
  std::size_t cut = 0;
  std::size_t later = 0;
  std::size_t early = 0;
  for (const auto& q : suite->problems) {
    auto r = online.run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 5, .problem = q.id}));
    REQUIRE(r);
    for (const auto& e : r->trace) {
      if (e.what.find(" cut below") == std::string::npos) continue;
      later += std::stoul(e.what);
      cut += std::stoul(e.what.substr(e.what.find(", ") + 2));
      early += std::stoul(e.what.substr(e.what.find('(') + 1));
    }
  }
  CHECK(early * 10 >= cut * 8); // measured 276 of the 292 stopped mid-trace; filtering only finished traces stops none
  CHECK(cut >= 252);
  CHECK(cut <= 332);
  REQUIRE(later > 0);
  const double fraction = static_cast<double>(cut) / static_cast<double>(later);
  CHECK(fraction >= 0.70);
  CHECK(fraction <= 0.90);
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

namespace {

/// A stepping + logprob model over the synthetic model (no sample(), so every trace is stepped)
/// that hands out its own never-reused handles and counts releases per handle, and can put a NaN
/// into the top-k logprobs of every step from one extend call on.
class deepconf_audited_stepper {
public:
  using reckon_model_concept = capabilities<stepping_model_tag, logprob_model_tag>;
  using sequence = std::uint32_t;
  static constexpr std::uint32_t never = std::numeric_limits<std::uint32_t>::max();

  explicit deepconf_audited_stepper(testing::synthetic_model& inner, std::uint32_t nan_from_extend = never)
      : inner_(inner), nan_from_(nan_from_extend) {}

  result<sequence> begin(const problem& p) {
    auto s = inner_.begin(p);
    if (!s) return s.error();
    inner_of_.push_back(*s);
    releases_.push_back(0);
    return static_cast<sequence>(inner_of_.size() - 1);
  }
  result<sequence> fork(sequence) { return fail(errc::invalid_argument, "DeepConf never forks"); }
  void release(sequence s) noexcept {
    if (s >= releases_.size()) return;
    if (releases_[s]++ == 0) inner_.release(inner_of_[s]);
  }
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    std::vector<testing::synthetic_model::sequence> inner;
    for (const sequence s : seqs) {
      if (s >= releases_.size() || releases_[s] != 0) return fail(errc::invalid_argument, "extend of a released handle");
      inner.push_back(inner_of_[s]);
    }
    auto out = inner_.extend(inner, sp, seeds);
    if (out && ++extends_ >= nan_from_)
      for (auto& st : out->steps)
        if (!st.stats.top_logprobs.empty()) st.stats.top_logprobs.back() = std::numeric_limits<float>::quiet_NaN();
    return out;
  }

  /// The prompt's token count, for detail::prompt_reserve (the synthetic model's own count).
  [[nodiscard]] std::uint64_t prompt_tokens(const problem& p) const {
    const testing::synthetic_problem* q = inner_.find(p);
    return q == nullptr ? 0 : q->prompt_tokens;
  }
  [[nodiscard]] std::size_t begun() const { return releases_.size(); }
  [[nodiscard]] std::size_t released_once() const {
    return static_cast<std::size_t>(std::count(releases_.begin(), releases_.end(), 1u));
  }
  [[nodiscard]] std::size_t released_twice_or_more() const {
    return static_cast<std::size_t>(std::count_if(releases_.begin(), releases_.end(), [](std::uint32_t r) { return r > 1; }));
  }
  [[nodiscard]] std::uint32_t extends() const { return extends_; }

private:
  testing::synthetic_model& inner_;
  std::uint32_t nan_from_;
  std::uint32_t extends_ = 0;
  std::vector<testing::synthetic_model::sequence> inner_of_;
  std::vector<std::uint32_t> releases_;
};

} // namespace

TEST_CASE("regression #13.3: online DeepConf on a stepping model never passes max_generated_tokens",
          "[strategy][deepconf][budget]") {
  // Before the fix the budget was checked only before each step and a batch of 8 traces took a
  // whole step each past it (5000 -> 5271). Every limit of the sweep must hold exactly.
  const auto suite = test::shared_suite("hard", 6);
  testing::synthetic_model inner(suite);
  deepconf_params dp;
  dp.n = 32;
  dp.eta = 90;        // DeepConf-high: many voters, so they rarely agree unanimously
  dp.consensus = 1.0; // and no consensus stop short of that: the budget is what stops the run
  const deepconf_online_strategy online(dp);
  std::size_t stopped_by_budget = 0;
  for (const std::uint64_t cap : {4000ULL, 6000ULL, 8000ULL, 10000ULL, 12000ULL, 14000ULL}) {
    for (const auto& q : suite->problems) {
      deepconf_audited_stepper model(inner);
      budget b;
      b.max_generated_tokens = cap;
      auto r = online.run(model, q.as_problem(), b, random_stream(stream_key{.seed = 3, .problem = q.id}));
      INFO("cap " << cap << " problem " << q.id);
      CHECK(inner.live_sequences() == 0);
      if (!r) {
        CHECK(r.error().code == errc::budget_exhausted);
        continue;
      }
      CHECK(r->cost.generated_tokens <= cap);
      stopped_by_budget += r->stopped_by == stop_reason::generated_tokens ? 1 : 0;
    }
  }
  CHECK(stopped_by_budget >= 12); // the sweep does reach its limits (17 of 36 runs measured)
  // max_total_tokens too: each trace's prompt, prefilled at its first extend, is reserved first
  // (by the model's prompt_tokens: detail::prompt_reserve).
  std::size_t stopped_by_total = 0;
  for (const std::uint64_t cap : {5000ULL, 9000ULL, 13000ULL}) {
    for (const auto& q : suite->problems) {
      deepconf_audited_stepper model(inner);
      budget b;
      b.max_total_tokens = cap;
      auto r = online.run(model, q.as_problem(), b, random_stream(stream_key{.seed = 3, .problem = q.id}));
      INFO("total cap " << cap << " problem " << q.id);
      CHECK(inner.live_sequences() == 0);
      if (!r) continue;
      CHECK(r->cost.total_tokens() <= cap);
      stopped_by_total += r->stopped_by == stop_reason::total_tokens ? 1 : 0;
    }
  }
  CHECK(stopped_by_total >= 7); // 10 of 18 runs measured
}

TEST_CASE("regression #13.6: a NaN logprob mid-run leaks no engine sequence in online DeepConf",
          "[strategy][deepconf][errors]") {
  // token_confidences throws on the NaN inside the stepping loop; before the fix the live traces
  // were released only on error-return paths (8 sequences left live).
  const auto suite = test::shared_suite("hard", 3);
  testing::synthetic_model inner(suite);
  deepconf_params dp;
  dp.n = 32;
  dp.eta = 90;
  dp.consensus = 1.0;
  const deepconf_online_strategy online(dp);
  for (const std::uint32_t at : {1u, 3u, 12u}) { // in the warm-up, at its end, in a later batch
    for (const auto& q : suite->problems) {
      deepconf_audited_stepper model(inner, at);
      result<strategy_result> r = fail(errc::engine_failure, "not run");
      REQUIRE_NOTHROW(r = online.run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 4, .problem = q.id})));
      INFO("NaN from extend " << at << ", problem " << q.id);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::invalid_argument);
      CHECK(model.extends() == at); // the run stopped at the NaN
      CHECK(model.begun() >= dp.n_init);
      CHECK(model.released_once() == model.begun());
      CHECK(model.released_twice_or_more() == 0);
      CHECK(inner.live_sequences() == 0);
    }
  }
}

TEST_CASE("regression #13.9: an empty completion scores 0 and does not fail a DeepConf run", "[strategy][deepconf]") {
  // The reference scores a trace with no tokens 0 (compute_least_grouped: [0]); it has no answer,
  // so it neither votes nor fails the run.
  struct deepconf_sometimes_empty {
    using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
    testing::synthetic_model* inner;
    result<sample_batch> sample(const problem& p, const sampling_params& s, std::uint32_t n) {
      auto out = inner->sample(p, s, n);
      if (out && !out->completions.empty()) out->completions.front() = completion{}; // no text, tokens, top-k
      return out;
    }
  };
  const auto suite = test::shared_suite("mixed", 4);
  testing::synthetic_model inner(suite);
  deepconf_sometimes_empty model{&inner};
  deepconf_params dp;
  dp.n = 16;
  dp.n_init = 8;
  for (const auto& q : suite->problems) {
    auto off = deepconf_offline_strategy(dp).run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 2, .problem = q.id}));
    REQUIRE(off);
    CHECK(off->answer.has_value());
    auto on = deepconf_online_strategy(dp).run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 2, .problem = q.id}));
    REQUIRE(on);
    CHECK(on->answer.has_value());
  }
  const std::vector<double> none;
  CHECK(deepconf::score(none, trace_score::lowest_group, 2048) == 0.0);
  CHECK(deepconf::score(none, trace_score::mean, 2048) == 0.0);
  // A non-empty trace without top-k rows is still a model that does not serve them.
  struct deepconf_no_topk {
    using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
    testing::synthetic_model* inner;
    result<sample_batch> sample(const problem& p, const sampling_params& s, std::uint32_t n) {
      auto out = inner->sample(p, s, n);
      if (out) for (auto& c : out->completions) c.stats = token_stats{};
      return out;
    }
  };
  deepconf_no_topk bare{&inner};
  auto r = deepconf_offline_strategy(dp).run(bare, suite->problems[0].as_problem(), budget{}, random_stream{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
}

TEST_CASE("regression #13.11: offline DeepConf ignores the online-only n_init", "[strategy][deepconf][errors]") {
  const auto suite = test::shared_suite("mixed", 2);
  testing::synthetic_model model(suite);
  deepconf_params dp;
  dp.n = 4; // below the default n_init = 16
  auto off = deepconf_offline_strategy(dp).run(model, suite->problems[0].as_problem(), budget{}, random_stream{});
  CHECK(off.has_value());
  dp.n_init = 0;
  CHECK(deepconf_offline_strategy(dp).run(model, suite->problems[0].as_problem(), budget{}, random_stream{}).has_value());
  auto on = deepconf_online_strategy(dp).run(model, suite->problems[0].as_problem(), budget{}, random_stream{});
  REQUIRE_FALSE(on);
  CHECK(on.error().code == errc::invalid_argument);
}

namespace {
/// A sampling + logprob model that returns scripted one-token traces: each a text and the one
/// top-1 logprob -confidence (so with top_k = 1 a trace's score is its confidence).
struct deepconf_scripted {
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
  std::vector<std::pair<std::string, double>> traces; // text, confidence
  result<sample_batch> sample(const problem&, const sampling_params& s, std::uint32_t n) {
    if (n > traces.size()) return fail(errc::invalid_argument, "deepconf_scripted: more traces asked than scripted");
    sample_batch b;
    for (std::uint32_t i = 0; i < n; ++i) {
      completion c;
      c.text = traces[i].first;
      c.tokens = 1;
      c.stats.top_k = s.stats.top_k;
      c.stats.top_logprobs.assign(s.stats.top_k, static_cast<float>(-traces[i].second));
      b.completions.push_back(std::move(c));
    }
    b.usage.engine_calls = 1;
    b.usage.generated_tokens = n;
    return b;
  }
};
} // namespace

TEST_CASE("regression #13.19a: offline DeepConf keeps every trace at or above the percentile, ties included",
          "[strategy][deepconf]") {
  // 10 answered traces, 3 tied at the top (one "1" first, then two "2"), eta = 10: the reference's
  // threshold np.percentile([1 x 7, 2 x 3], 90) = 2 keeps all three, so "2" wins 4 to 2. Before the
  // fix ceil(10% of 10) = 1 trace was kept, the first of the tie: "1".
  deepconf_scripted model;
  model.traces = {{"\\boxed{1}", 2.0}, {"\\boxed{2}", 2.0}, {"\\boxed{2}", 2.0}};
  for (int i = 0; i < 7; ++i) model.traces.emplace_back("\\boxed{3}", 1.0);
  deepconf_params dp;
  dp.n = 10;
  dp.top_k = 1;
  dp.score = trace_score::mean;
  dp.eta = 10;
  auto r = deepconf_offline_strategy(dp).run(model, problem{}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("2"));
  CHECK(r->tally.votes == 3);
  CHECK(r->confidence == test::Approx(4.0 / 6.0));
  // Interpolated, no tie: percentile 90 of {1, 2, 3, 4, 5} is 4.6, so only the 5 votes.
  model.traces = {{"\\boxed{1}", 1.0}, {"\\boxed{2}", 2.0}, {"\\boxed{3}", 3.0}, {"\\boxed{4}", 4.0}, {"\\boxed{5}", 5.0}};
  dp.n = 5;
  r = deepconf_offline_strategy(dp).run(model, problem{}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("5"));
  CHECK(r->tally.votes == 1);
}

TEST_CASE("regression #13.19a: offline DeepConf drops answerless traces before the percentile", "[strategy][deepconf]") {
  // The 5 most confident traces have no answer. The reference filters the 5 answered ones:
  // percentile 50 of {2, 1, 1, 1, 1} = 1 keeps them all and "5" wins 4 to 2. Before the fix the top
  // half of all 10 traces was kept: the 5 answerless ones, so the run had no answer.
  deepconf_scripted model;
  for (int i = 0; i < 5; ++i) model.traces.emplace_back("I am not sure.", 3.0);
  model.traces.emplace_back("\\boxed{4}", 2.0);
  for (int i = 0; i < 4; ++i) model.traces.emplace_back("\\boxed{5}", 1.0);
  deepconf_params dp;
  dp.n = 10;
  dp.top_k = 1;
  dp.score = trace_score::mean;
  dp.eta = 50;
  auto r = deepconf_offline_strategy(dp).run(model, problem{}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK(r->answer == std::optional<std::string>("5"));
  CHECK(r->tally.votes == 5);
  CHECK(r->samples == 10);
  // No answer anywhere: a result without an answer, not an error.
  model.traces.assign(10, {"I am not sure.", 3.0});
  r = deepconf_offline_strategy(dp).run(model, problem{}, budget{}, random_stream{});
  REQUIRE(r);
  CHECK_FALSE(r->answer.has_value());
}

TEST_CASE("regression #13.19d: an unlisted (-inf) top-k alternative is absent from the token confidence",
          "[strategy][deepconf]") {
  // The OpenAI wire reader pads a row the server listed short with -inf; before the fix each pad
  // counted as logprob -1e4 and added 1e4 / k (500 at k = 20) to the token's confidence.
  constexpr float unlisted = -std::numeric_limits<float>::infinity();
  token_stats s;
  s.top_k = 4;
  s.top_logprobs = {-1.0f, -3.0f, unlisted, unlisted, // two listed: C = 2
                    -0.5f, -0.5f, -0.5f, -0.5f,        // all listed: C = 0.5
                    unlisted, unlisted, unlisted, unlisted}; // none listed: no confidence
  const auto c = deepconf::token_confidences(s, 4);
  REQUIRE(c.size() == 2);
  CHECK(c[0] == test::Approx(2.0).epsilon(1e-6));
  CHECK(c[1] == test::Approx(0.5).epsilon(1e-6));
  CHECK(deepconf::token_confidences(s, 2)[0] == test::Approx(2.0).epsilon(1e-6));
}

namespace {
/// The synthetic model (sampling and stepping) recording the per-trace cap and temperature of
/// every sample and extend request.
struct deepconf_request_log {
  using reckon_model_concept = capabilities<sampling_model_tag, stepping_model_tag, logprob_model_tag>;
  using sequence = testing::synthetic_model::sequence;
  testing::synthetic_model* inner;
  std::vector<std::pair<std::uint32_t, float>> sampled; // max_tokens, temperature
  std::vector<std::pair<std::uint32_t, float>> stepped; // max_total_tokens, temperature
  std::uint32_t longest_stepped_trace = 0;
  std::vector<std::uint32_t> tokens_of; // by sequence id

  result<sample_batch> sample(const problem& p, const sampling_params& s, std::uint32_t n) {
    sampled.emplace_back(s.max_tokens, s.temperature);
    return inner->sample(p, s, n);
  }
  result<sequence> begin(const problem& p) {
    auto s = inner->begin(p);
    if (s) {
      if (tokens_of.size() <= *s) tokens_of.resize(*s + 1);
      tokens_of[*s] = 0;
    }
    return s;
  }
  result<sequence> fork(sequence s) { return inner->fork(s); }
  void release(sequence s) noexcept { inner->release(s); }
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t> seeds) {
    stepped.emplace_back(sp.max_total_tokens, sp.temperature);
    auto out = inner->extend(seqs, sp, seeds);
    if (out)
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        tokens_of[seqs[i]] += out->steps[i].tokens;
        longest_stepped_trace = std::max(longest_stepped_trace, tokens_of[seqs[i]]);
      }
    return out;
  }
};
} // namespace

TEST_CASE("regression #13.19b: online DeepConf draws warm-up and later traces with one cap and temperature",
          "[strategy][deepconf]") {
  // Before the fix warm-up traces were sampled with `sampling` (max 2048 tokens) and later ones
  // stepped with a separate `stepping` (4096): the threshold was calibrated on other traces than
  // the ones it cut. Now a stepped trace takes sampling's max_tokens, temperature and top_p.
  const auto suite = test::lenient_suite("hard", 4);
  testing::synthetic_model inner(suite, testing::lenient_params());
  deepconf_params dp;
  dp.n = 32;
  dp.eta = 90;
  dp.consensus = 1.0;
  dp.sampling.max_tokens = 200; // shorter than many synthetic traces: the cap binds
  dp.sampling.temperature = 0.7f;
  const deepconf_online_strategy online(dp);
  std::size_t extends = 0;
  for (const auto& q : suite->problems) {
    deepconf_request_log model{&inner, {}, {}, 0, {}};
    auto r = online.run(model, q.as_problem(), budget{}, random_stream(stream_key{.seed = 6, .problem = q.id}));
    REQUIRE(r);
    REQUIRE_FALSE(model.sampled.empty()); // the warm-up: one sampled batch
    extends += model.stepped.size();      // the later batches, unless the warm-up agreed
    for (const auto& [cap, temperature] : model.sampled) {
      CHECK(cap == 200);
      CHECK(temperature == 0.7f);
    }
    for (const auto& [cap, temperature] : model.stepped) {
      CHECK(cap == 200);
      CHECK(temperature == 0.7f);
    }
    CHECK(model.longest_stepped_trace <= 200);
  }
  CHECK(extends >= 20);
}

namespace {
/// An answer key that throws a std::exception (not a reckon::exception).
struct deepconf_throwing_key {
  std::optional<std::string> operator()(const completion&) const { throw std::runtime_error("key broke"); }
};
} // namespace

TEST_CASE("regression #13.22: an answer key that throws is an error result and leaks no sequence", "[strategy][deepconf][errors]") {
  // DeepConf's own try/catch caught reckon::exception only: a std::exception from the user's key
  // escaped run(). Under detail::checked_run it is an engine_failure naming DeepConf.
  const auto suite = test::shared_suite("mixed", 2);
  testing::synthetic_model inner(suite);
  deepconf_params dp;
  dp.n = 16;
  dp.n_init = 8;
  const problem p = suite->problems[0].as_problem();
  result<strategy_result> r = fail(errc::invalid_argument, "not run");
  REQUIRE_NOTHROW(r = basic_deepconf<deepconf_offline, deepconf_throwing_key>(dp).run(inner, p, budget{}, random_stream{}));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(r.error().message.find("deepconf") != std::string::npos);
  deepconf_audited_stepper stepper(inner);
  REQUIRE_NOTHROW(r = basic_deepconf<deepconf_online, deepconf_throwing_key>(dp).run(stepper, p, budget{}, random_stream{}));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(stepper.begun() >= 8);
  CHECK(stepper.released_once() == stepper.begun());
  CHECK(inner.live_sequences() == 0);
}
