// SPDX-License-Identifier: Apache-2.0
#include <reckon/aggregate/length_filter.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/strategy/short_m_at_k.hpp>

#include "hostile_stepping.hpp"
#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

using namespace reckon;

namespace {
/// One scripted chain: it finishes after `steps` steps of `tokens` tokens each with `answer`.
struct smk_chain {
  std::uint32_t steps = 1;
  std::uint32_t tokens = 10;
  std::string answer;
};

/// A stepping model that plays a script: the i-th sequence handed out (begin, then forks) walks
/// chain i. It counts releases per handle.
class smk_script_model {
public:
  using reckon_model_concept = stepping_model_tag;
  using sequence = std::uint32_t;
  explicit smk_script_model(std::vector<smk_chain> chains) : chains_(std::move(chains)) {}

  result<sequence> begin(const problem&) { return add(); }
  result<sequence> fork(sequence) { return add(); }
  void release(sequence s) noexcept { ++released_[s]; }
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& sp, std::span<const std::uint64_t>) {
    step_batch b;
    b.usage.engine_calls = 1;
    for (const sequence s : seqs) {
      const smk_chain& c = chains_[s];
      step st;
      st.tokens = std::min(c.tokens, sp.max_step_tokens);
      const bool last = ++taken_[s] >= c.steps;
      st.done = last;
      st.finish = last ? finish_reason::eos : finish_reason::step;
      st.text = last ? fmt::format("chain {} \\boxed{{{}}}", s, c.answer) : fmt::format("chain {} step.\n\n", s);
      b.usage.generated_tokens += st.tokens;
      b.steps.push_back(std::move(st));
    }
    return b;
  }
  [[nodiscard]] bool clean() const {
    for (sequence s = 0; s < handed_; ++s) {
      const auto it = released_.find(s);
      if (it == released_.end() || it->second != 1) return false;
    }
    return true;
  }
  [[nodiscard]] std::uint32_t steps_of(sequence s) const {
    const auto it = taken_.find(s);
    return it == taken_.end() ? 0 : it->second;
  }

private:
  result<sequence> add() {
    if (handed_ >= chains_.size()) return fail(errc::no_capacity, "script: no more chains");
    return handed_++;
  }
  std::vector<smk_chain> chains_;
  sequence handed_ = 0;
  std::map<sequence, std::uint32_t> released_, taken_;
};

bool smk_trace_has(const strategy_result& r, const std::string& what) {
  for (const auto& e : r.trace)
    if (e.what.find(what) != std::string::npos) return true;
  return false;
}
} // namespace

TEST_CASE("length_filtered_vote keeps the shortest fraction and gives ties to the shortest", "[aggregate][length_filter]") {
  const std::vector<std::optional<std::string>> answers{"a", "b", "b", std::nullopt, "a", "c"};
  const std::vector<std::uint32_t> lengths{50, 10, 20, 1, 60, 5};
  // All kept: a 2, b 2, c 1; a and b tie on count and b's shortest (10) beats a's (50).
  const vote_tally all = length_filtered_vote(answers, lengths, {1.0});
  CHECK(all.winner() == "b");
  CHECK(all.votes == 5);
  CHECK(all.abstentions == 1);
  CHECK(ties_to_shortest(answers, lengths).winner() == "b");
  // keep 0.6 of the 5 answered: ceil(3) shortest = c(5), b(10), b(20).
  const vote_tally short3 = length_filtered_vote(answers, lengths, {0.6});
  CHECK(short3.winner() == "b");
  CHECK(short3.votes == 3);
  CHECK(short3.find("a") == nullptr);
  // keep 0.2: the single shortest answered sample (c), the abstainer does not count.
  CHECK(length_filtered_vote(answers, lengths, {0.2}).winner() == "c");
  // Equal lengths keep input order.
  const std::vector<std::string> flat{"x", "y"};
  CHECK(length_filtered_vote(flat, std::vector<std::uint32_t>{7, 7}, {0.5}).winner() == "x");
  // Nobody answered: an empty tally.
  const std::vector<std::optional<std::string>> mute{std::nullopt, std::nullopt};
  CHECK_FALSE(length_filtered_vote(mute, std::vector<std::uint32_t>{1, 2}).winner());
  CHECK_THROWS_AS(length_filtered_vote(flat, std::vector<std::uint32_t>{1}), reckon::exception);
  CHECK_THROWS_AS(length_filtered_vote(flat, std::vector<std::uint32_t>{1, 2}, {0.0}), reckon::exception);
  CHECK_THROWS_AS(length_filtered_vote(flat, std::vector<std::uint32_t>{1, 2}, {1.5}), reckon::exception);
  CHECK_THROWS_AS(length_filtered_vote(flat, std::vector<std::uint32_t>{1, 2}, {std::numeric_limits<double>::quiet_NaN()}),
                  reckon::exception);
}

TEST_CASE("short-m@k stops every other chain once m have finished and votes over those m, ties to the shortest",
          "[strategy][short_m_at_k]") {
  // Chains finish after 2, 3, 3, 5, 8 steps. short-1@5 answers with chain 0. short-3@5 stops after
  // step 3: chains 1 and 2 finish there too, so the voters are 0 ("7"), 1 ("9", 30 tokens) and 2
  // ("8"): all tie at one vote and "7" has the shortest chain.
  const std::vector<smk_chain> script{{2, 10, "7"}, {3, 10, "9"}, {3, 10, "8"}, {5, 10, "9"}, {8, 10, "9"}};
  const problem p{.id = 1, .prompt = "q"};
  {
    smk_script_model model(script);
    auto r = short_m_at_k(short_m_at_k_params{.k = 5, .m = 1}).run(model, p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->answer == "7");
    CHECK(r->samples == 1);
    CHECK(r->cost.engine_calls == 2);
    CHECK(r->cost.generated_tokens == 5 * 2 * 10); // k x the first finisher's length
    CHECK(smk_trace_has(*r, "1 of 5 chains finished after 2 steps; 4 stopped"));
    CHECK(model.steps_of(4) == 2);
    CHECK(model.clean());
  }
  {
    smk_script_model model(script);
    auto r = short_m_at_k(short_m_at_k_params{.k = 5, .m = 3}).run(model, p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->answer == "7");
    CHECK(r->samples == 3);
    CHECK(r->cost.engine_calls == 3);
    CHECK(r->cost.generated_tokens == 2 * 10 + 4 * 3 * 10);
    CHECK(model.clean());
  }
  {
    // A fourth voter breaks the tie: majority@5 over all five finds "9" three times.
    smk_script_model model(script);
    auto r = short_m_at_k(short_m_at_k_params{.k = 5, .m = 5}).run(model, p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->answer == "9");
    CHECK(r->cost.generated_tokens == (2 + 3 + 3 + 5 + 8) * 10);
    CHECK(model.clean());
  }
  {
    // Two chains finish in the same extend: the one with fewer tokens is the first finisher.
    const std::vector<smk_chain> tie{{2, 12, "1"}, {2, 11, "2"}, {4, 5, "3"}};
    smk_script_model model(tie);
    auto r = short_m_at_k(short_m_at_k_params{.k = 3, .m = 1}).run(model, p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->answer == "2");
    CHECK(model.clean());
  }
}

TEST_CASE("short-m@k: capacity, budgets, the step cap and hostile engines", "[strategy][short_m_at_k][errors]") {
  const auto suite = test::lenient_suite("hard", 4);
  const problem p = suite->problems[0].as_problem();
  const random_stream s(stream_key{.seed = 3, .problem = p.id});
  const short_m_at_k smk(short_m_at_k_params{.k = 8, .m = 3});
  SECTION("a fork refused for capacity runs fewer chains") {
    testing::synthetic_params tight = testing::lenient_params();
    tight.capacity = 2;
    testing::synthetic_model model(suite, tight);
    auto r = smk.run(model, p, budget{}, s);
    REQUIRE(r);
    CHECK(smk_trace_has(*r, "fork: no capacity; started 2 of 8 paths"));
    CHECK(r->samples == 2);
    CHECK(r->answer.has_value());
    CHECK(model.live_sequences() == 0);
  }
  SECTION("every budget limit stops it within the budget and says which") {
    testing::synthetic_model model(suite, testing::lenient_params());
    const auto full = smk.run(model, p, budget{}, s);
    REQUIRE(full);
    const std::uint64_t g = full->cost.generated_tokens;
    // One token short: the last step's caps are lowered, the run stays within it (three chains
    // may still finish, then nothing stopped it).
    auto tight = smk.run(model, p, budget{.max_generated_tokens = g - 1}, s);
    REQUIRE(tight);
    CHECK(tight->cost.generated_tokens <= g - 1);
    for (const std::uint64_t cap : {g / 4, g / 2}) {
      auto r = smk.run(model, p, budget{.max_generated_tokens = cap}, s);
      REQUIRE(r);
      CHECK(r->cost.generated_tokens <= cap);
      REQUIRE(r->stopped_by);
      CHECK(*r->stopped_by == stop_reason::generated_tokens);
      CHECK(model.live_sequences() == 0);
    }
    const std::uint64_t t = full->cost.total_tokens();
    auto total = smk.run(model, p, budget{.max_total_tokens = t / 2}, s);
    REQUIRE(total);
    CHECK(total->cost.total_tokens() <= t / 2);
    CHECK(*total->stopped_by == stop_reason::total_tokens);
    auto calls = smk.run(model, p, budget{.max_engine_calls = 2}, s);
    REQUIRE(calls);
    CHECK(calls->cost.engine_calls == 2);
    CHECK(*calls->stopped_by == stop_reason::engine_calls);
    CHECK_FALSE(calls->answer); // nothing finished after 2 of the problem's steps
    CHECK(smk_trace_has(*calls, "only 0 of 3 chains finished (engine_calls)"));
    // A reward-model limit does not stop it: it makes no reward call.
    auto prm = smk.run(model, p, budget{.max_prm_calls = 0}, s);
    REQUIRE(prm);
    CHECK(prm->answer == full->answer);
    for (const budget none : {budget{.max_generated_tokens = 0}, budget{.max_engine_calls = 0},
                              budget{.max_total_tokens = suite->problems[0].prompt_tokens},
                              budget::deadline_in(std::chrono::seconds(-1))}) {
      auto r = smk.run(model, p, none, s);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::budget_exhausted);
    }
    CHECK(model.live_sequences() == 0);
  }
  SECTION("nothing finished at the step cap: no answer, every chain released") {
    testing::synthetic_model model(suite, testing::lenient_params());
    auto r = short_m_at_k(short_m_at_k_params{.k = 4, .m = 1, .max_steps = 1}).run(model, p, budget{}, s);
    REQUIRE(r);
    CHECK_FALSE(r->answer);
    CHECK(r->samples == 0);
    CHECK(smk_trace_has(*r, "only 0 of 1 chains finished (step cap)"));
    CHECK(smk_trace_has(*r, "no chain finished"));
    CHECK(model.live_sequences() == 0);
  }
  SECTION("hostile engines: errors are results and every handle is released exactly once") {
    const auto fails = [&](test::hostile_modes modes, const char* what) {
      INFO(what);
      testing::synthetic_model inner(suite, testing::lenient_params());
      test::hostile_stepping model(inner, modes);
      result<strategy_result> r = fail(errc::invalid_argument, "not run");
      CHECK_NOTHROW(r = smk.run(model, p, budget{}, s));
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::engine_failure);
      CHECK(model.clean());
    };
    fails(test::hostile_modes{.forks_before_failure = 3}, "a fork fails with engine_failure");
    fails(test::hostile_modes{.throw_extend_at = 2}, "extend throws");
    fails(test::hostile_modes{.fail_extend_at = 3}, "extend fails");
    fails(test::hostile_modes{.short_extend_at = 1}, "extend returns a step too few");
    for (const bool never : {true, false}) {
      testing::synthetic_model inner(suite, testing::lenient_params());
      test::hostile_stepping model(inner, test::hostile_modes{.never_done = never, .done_at_first_step = !never});
      auto r = short_m_at_k(short_m_at_k_params{.k = 6, .m = 3, .max_steps = 12}).run(model, p, budget{}, s);
      REQUIRE(r);
      CHECK(r->samples == (never ? 0U : 3U));
      // A chain done at its first step ends without an answer (a synthetic first step holds none).
      CHECK_FALSE(r->answer.has_value());
      CHECK(r->cost.engine_calls == (never ? 12U : 1U));
      CHECK(model.clean());
    }
  }
  SECTION("bad parameters") {
    testing::synthetic_model model(suite, testing::lenient_params());
    auto bad = [&](short_m_at_k_params pp, const char* what) {
      auto r = short_m_at_k(pp).run(model, p, budget{}, s);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::invalid_argument);
      CHECK(r.error().message.find(what) != std::string::npos);
    };
    bad({.k = 0}, "k must be > 0");
    bad({.k = 4, .m = 0}, "m must be in [1, k]");
    bad({.k = 4, .m = 5}, "m must be in [1, k] = [1, 4] (got 5)");
    bad({.k = 4, .m = 1, .max_steps = 0}, "max_steps");
    short_m_at_k_params no_delim{.k = 4};
    no_delim.stepping.delimiter = "";
    bad(no_delim, "");
    short_m_at_k_params zero_tokens{.k = 4};
    zero_tokens.sampling.max_tokens = 0;
    auto w = short_m_at_k(zero_tokens).run_whole_samples(model, p, budget{}, s);
    REQUIRE_FALSE(w);
    CHECK(w.error().code == errc::invalid_argument);
  }
}

TEST_CASE("short-m@k on whole samples: the m shortest finished vote, the cost counted as if the rest had stopped",
          "[strategy][short_m_at_k]") {
  const problem p{.id = 1, .prompt = "q"};
  // A sampling-only model: run() takes the whole-sample path.
  test::script_sampler sampler{.texts = test::boxed({"1", "2", "2", "3"}), .tokens = 10};
  auto r = short_m_at_k(short_m_at_k_params{.k = 4, .m = 2}).run(sampler, p, budget{}, random_stream{});
  REQUIRE(r);
  // Equal lengths: the first two finishers by input order, "1" and "2", tie; "1" came first.
  CHECK(r->answer == "1");
  CHECK(r->samples == 2);
  CHECK(r->cost.generated_tokens == 40); // every sample already ended at the 2nd finisher's 10 tokens
  CHECK(smk_trace_has(*r, "cost counted as if the other 2 chains had stopped"));
  // On the synthetic model: counted tokens are below the actual ones, and m = k counts them all.
  const auto suite = test::shared_suite("hard", 6);
  testing::synthetic_model model(suite);
  for (const auto& q : suite->problems) {
    const problem pq = q.as_problem();
    const random_stream s(stream_key{.seed = 2, .problem = pq.id});
    auto one = short_m_at_k(short_m_at_k_params{.k = 8, .m = 1}).run_whole_samples(model, pq, budget{}, s);
    auto all = short_m_at_k(short_m_at_k_params{.k = 8, .m = 8}).run_whole_samples(model, pq, budget{}, s);
    auto maj = self_consistency(self_consistency_params{.n = 8}).run(model, pq, budget{}, s);
    REQUIRE(one);
    REQUIRE(all);
    REQUIRE(maj);
    CHECK(all->cost.generated_tokens == maj->cost.generated_tokens);
    if (maj->tally.margin() > 0.0) CHECK(all->answer == maj->answer); // only the tie-break differs
    CHECK(one->cost.generated_tokens < maj->cost.generated_tokens);
  }
  test::mute_model mute;
  auto m = short_m_at_k(short_m_at_k_params{.k = 3, .m = 2}).run(mute, p, budget{}, random_stream{});
  REQUIRE(m);
  CHECK_FALSE(m->answer);
  auto none = short_m_at_k(short_m_at_k_params{.k = 3, .m = 2}).run(sampler, p, budget{.max_generated_tokens = 0}, random_stream{});
  REQUIRE_FALSE(none);
  CHECK(none.error().code == errc::budget_exhausted);
  test::throwing_model thrower;
  auto t = short_m_at_k(short_m_at_k_params{.k = 3, .m = 2}).run(thrower, p, budget{}, random_stream{});
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::engine_failure);
}

TEST_CASE("short-m@k: the friendly name is the default policies", "[strategy][short_m_at_k]") {
  CHECK(std::is_same_v<short_m_at_k, basic_short_m_at_k<>>);
}

TEST_CASE("short-m@k and the length filter gain where wrong chains run longer, and only there",
          "[strategy][short_m_at_k][statistics]") {
  // 200 hard problems, k = 8, seed 1. Measured with error_length_factor 1.3 (wrong chains' steps
  // 1.3x longer after the first error): short-1@8 on whole samples 0.765 at 2499 counted tokens,
  // majority@8 0.600 at 3114; the shortest half of 8 samples (seed 11) 0.805, majority 0.53. With
  // the default 1 (length carries no signal): short-1@8 stepping 0.515, one sample 0.48; the
  // shortest half 0.53, majority 0.53. Stated margins: with 1.3, short-1@8 at least 8 points above
  // majority@8 at <= 0.9x its tokens, the filter at least 15 above majority; with 1, short-1@8
  // within 10 points of one sample and the filter within 6 of majority.
  const auto suite = test::lenient_suite("hard", 200);
  for (const double factor : {1.0, 1.3}) {
    INFO("error_length_factor " << factor);
    testing::synthetic_params sp = testing::lenient_params();
    sp.error_length_factor = factor;
    testing::synthetic_model model(suite, sp);
    const short_m_at_k short1(short_m_at_k_params{.k = 8, .m = 1});
    const self_consistency one(self_consistency_params{.n = factor == 1.0 ? 1U : 8U});
    const auto a = test::run_suite(*suite, [&](const problem& p, const random_stream& s) {
      return factor == 1.0 ? short1.run(model, p, budget{}, s) : short1.run_whole_samples(model, p, budget{}, s);
    });
    const auto b = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return one.run(model, p, budget{}, s); });
    double lf = 0, mv = 0;
    for (const auto& q : suite->problems) {
      sampling_params spp;
      spp.seed = 11;
      auto batch = model.sample(q.as_problem(), spp, 8);
      REQUIRE(batch);
      std::vector<std::optional<std::string>> answers;
      std::vector<std::uint32_t> lengths;
      for (const auto& c : batch->completions) {
        answers.push_back(canonical_answer_key{}(c));
        lengths.push_back(c.tokens);
      }
      lf += length_filtered_vote(answers, lengths, {0.5}).winner() == q.gold ? 1 : 0;
      mv += plurality_vote(answers).winner() == q.gold ? 1 : 0;
    }
    lf /= 200.0;
    mv /= 200.0;
    if (factor == 1.0) {
      CHECK(std::abs(a.accuracy - b.accuracy) <= 0.10);
      CHECK(std::abs(lf - mv) <= 0.06);
    } else {
      CHECK(a.accuracy >= b.accuracy + 0.08);
      CHECK(a.mean_generated <= 0.9 * b.mean_generated);
      CHECK(lf >= mv + 0.15);
    }
  }
}
