// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/particle_gibbs.hpp>

#include "hostile_stepping.hpp"
#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using namespace reckon;

namespace {
/// A PRM that answers 0.5 for every step, broken in a chosen way.
struct pg_broken_prm {
  using reckon_model_concept = process_reward_model_tag;
  int mode = 0; // 0 fewer lists, 1 NaN, 2 fails, 3 fails from the given call on
  int fail_from = 1;
  int calls = 0;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) {
    ++calls;
    if (mode == 2 || (mode == 3 && calls >= fail_from)) return fail(errc::engine_failure, "the PRM is down");
    std::vector<std::vector<double>> out;
    for (const auto& v : c) out.emplace_back(v.steps.size(), 0.5);
    if (mode == 0) out.pop_back();
    if (mode == 1) out[0].back() = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
};

bool pg_trace_has(const strategy_result& r, const std::string& what) {
  for (const auto& e : r.trace)
    if (e.what.find(what) != std::string::npos) return true;
  return false;
}
std::size_t pg_trace_count(const strategy_result& r, const std::string& what) {
  std::size_t n = 0;
  for (const auto& e : r.trace) n += e.what.find(what) != std::string::npos ? 1 : 0;
  return n;
}
} // namespace

TEST_CASE("particle gibbs with one sweep is the particle filter, draw for draw", "[strategy][particle_gibbs]") {
  const auto suite = test::shared_suite("hard", 12);
  testing::synthetic_model model(suite);
  const particle_gibbs pg(particle_gibbs_params{.n = 6, .iterations = 1});
  const particle_filter pf(particle_filter_params{.n = 6});
  for (const auto& q : suite->problems) {
    const problem p = q.as_problem();
    const random_stream s(stream_key{.seed = 4, .problem = p.id});
    auto a = pg.run(model, model, p, budget{}, s);
    auto b = pf.run(model, model, p, budget{}, s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->answer == b->answer);
    CHECK(a->cost.generated_tokens == b->cost.generated_tokens);
    CHECK(a->cost.engine_calls == b->cost.engine_calls);
    CHECK(a->cost.prm_calls == b->cost.prm_calls);
    CHECK(a->samples == b->samples);
  }
  CHECK(model.live_sequences() == 0);
}

TEST_CASE("particle gibbs: later sweeps run n - R free particles next to the references, which are cut back by forks",
          "[strategy][particle_gibbs]") {
  const auto suite = test::lenient_suite("hard", 10);
  testing::synthetic_model model(suite, testing::lenient_params());
  const auto& q = suite->problems[2];
  const problem p = q.as_problem();
  const random_stream s(stream_key{.seed = 9, .problem = p.id});
  const particle_gibbs pg(particle_gibbs_params{.n = 6, .iterations = 3, .references = 2});
  auto r = pg.run(model, model, p, budget{}, s);
  REQUIRE(r);
  CHECK(pg_trace_count(*r, "references drawn") == 2);
  CHECK(pg_trace_has(*r, "sweep 3: "));
  // The last sweep's competitors: 4 free particles (all finish on this suite) and 2 references.
  CHECK(pg_trace_has(*r, "sweep 3: " + std::to_string(q.steps) + " steps, 4 particles and 2 references compete"));
  CHECK(r->samples == 6);
  // Each sweep begins once and prefills the prompt once; a reference copy is a fork, no prefill.
  CHECK(r->cost.prefilled_tokens == 3 * q.prompt_tokens);
  CHECK(r->cost.engine_calls == 3 * q.steps);
  CHECK(r->cost.prm_calls == 3 * q.steps);
  // The snapshots are held next to the particles.
  CHECK(r->cost.peak_live_sequences > 6);
  CHECK(pg_trace_has(*r, "from references"));
  CHECK(model.live_sequences() == 0);
  auto again = pg.run(model, model, p, budget{}, s);
  REQUIRE(again);
  CHECK(again->answer == r->answer);
  CHECK(again->cost.generated_tokens == r->cost.generated_tokens);
}

TEST_CASE("particle gibbs at matched compute on hard: no better than the particle filter here",
          "[strategy][particle_gibbs][statistics]") {
  // 200 hard problems, seed 1, the default PRM (separation 1). Measured: Particle Gibbs with 8
  // particles in all (2 sweeps of 4, 1 reference; 2436 generated tokens a problem) 0.78; the
  // particle filter of 8 (2798 tokens) 0.925; the particle filter of 4, one sweep of the same
  // size, 0.77 (1393 tokens). Puri et al.'s gain of Particle Gibbs over the filter at matched compute does not
  // show on this testbed: the answer comes from the last sweep alone, and that sweep is a filter
  // of 4 particles that starts with the first sweep's pick. Stated margins: the filter of 8 at
  // least 5 points above Particle Gibbs of 8; Particle Gibbs within 8 points of the filter of 4.
  const auto suite = test::lenient_suite("hard", 200);
  testing::synthetic_model model(suite, testing::lenient_params());
  const particle_filter pf8(particle_filter_params{.n = 8});
  const particle_filter pf4(particle_filter_params{.n = 4});
  const particle_gibbs pg(particle_gibbs_params{.n = 4, .iterations = 2, .references = 1});
  const auto a = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pf8.run(model, model, p, budget{}, s); });
  const auto b = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pf4.run(model, model, p, budget{}, s); });
  const auto c = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pg.run(model, model, p, budget{}, s); });
  CHECK(a.accuracy >= c.accuracy + 0.05);
  CHECK(std::abs(c.accuracy - b.accuracy) <= 0.08);
  CHECK(c.mean_generated < a.mean_generated); // the reference is not regenerated
  CHECK(model.live_sequences() == 0);
}

namespace {
/// Scores an unfinished prefix 0.01 and a finished solution 0.99, so that a reference's partial
/// weight (0.01) and its final weight (0.99) are 9801x apart in odds.
struct pg_final_only_prm {
  using reckon_model_concept = process_reward_model_tag;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) {
    std::vector<std::vector<double>> out;
    for (const auto& v : c) out.emplace_back(v.steps.size(), v.finished ? 0.99 : 0.01);
    return out;
  }
};
} // namespace

TEST_CASE("particle gibbs weighs a reference by its partial weight at the current step, not its final one",
          "[strategy][particle_gibbs]") {
  // Every particle of a problem finishes at its last step, so before it free particles and the
  // reference's prefix score 0.01 alike: each of the 5 draws picks the reference with
  // probability 1/6. Weighed by its final 0.99 (its_hub's code as merged), it would take about
  // all of them. Measured over 10 problems, seed 5: 0.16 of the draws. Stated bound: below 0.4.
  const auto suite = test::shared_suite("hard", 10);
  testing::synthetic_model model(suite);
  pg_final_only_prm prm;
  const particle_gibbs pg(particle_gibbs_params{.n = 6, .iterations = 2, .references = 1});
  std::size_t draws = 0, from_refs = 0;
  for (const auto& q : suite->problems) {
    const problem p = q.as_problem();
    auto r = pg.run(model, prm, p, budget{}, random_stream(stream_key{.seed = 5, .problem = p.id}));
    REQUIRE(r);
    for (const auto& e : r->trace) {
      unsigned n = 0, k = 0;
      if (std::sscanf(e.what.c_str(), "sweep 2: resampled %u: %u from references", &n, &k) == 2) {
        draws += n;
        from_refs += k;
      }
    }
  }
  REQUIRE(draws > 0);
  const double share = static_cast<double>(from_refs) / static_cast<double>(draws);
  WARN("share of draws from the reference: " << share);
  CHECK(share < 0.4);
  CHECK(model.live_sequences() == 0);
}

TEST_CASE("particle gibbs reports bad parameters and bad PRMs clearly, releasing every snapshot",
          "[strategy][particle_gibbs][errors]") {
  const auto suite = test::shared_suite("mixed", 4);
  const problem p = suite->problems[0].as_problem();
  const random_stream s(stream_key{.seed = 3, .problem = p.id});
  testing::synthetic_model model(suite);
  auto bad = [&](particle_gibbs_params pp, const char* what) {
    auto r = particle_gibbs(pp).run(model, model, p, budget{}, s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find(what) != std::string::npos);
  };
  bad({.n = 0}, "n must be > 0");
  bad({.n = 4, .iterations = 0}, "iterations must be > 0");
  bad({.n = 4, .iterations = 2, .references = 0}, "references must be in [1, n - 1] = [1, 3] when iterations > 1 (got 0)");
  bad({.n = 4, .iterations = 2, .references = 4}, "(got 4)");
  bad({.n = 4, .max_steps = 0}, "max_steps must be > 0");
  bad({.n = 4, .temperature = 0.0}, "temperature");
  bad({.n = 4, .temperature = std::numeric_limits<double>::quiet_NaN()}, "temperature");
  bad({.n = 4, .score_clamp = 0.5}, "score_clamp");
  particle_gibbs_params no_delim{.n = 4};
  no_delim.stepping.delimiter = "";
  bad(no_delim, "");
  // n = 1 with one sweep is a valid (one-particle) filter; references are not read then.
  CHECK(particle_gibbs(particle_gibbs_params{.n = 1, .iterations = 1, .references = 0}).run(model, model, p, budget{}, s));
  const particle_gibbs pg(particle_gibbs_params{.n = 4, .iterations = 3});
  for (int mode = 0; mode < 3; ++mode) {
    INFO("mode " << mode);
    testing::synthetic_model inner(suite);
    test::hostile_stepping engine(inner);
    pg_broken_prm prm{mode};
    auto r = pg.run(engine, prm, p, budget{}, s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(engine.clean());
  }
  // The PRM fails in the second sweep, when snapshots and a reference are held.
  const auto steps = suite->problems[0].steps;
  testing::synthetic_model inner(suite);
  test::hostile_stepping engine(inner);
  pg_broken_prm later{3, static_cast<int>(steps) + 2};
  auto r = pg.run(engine, later, p, budget{}, s);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("the PRM is down") != std::string::npos);
  CHECK(engine.forks() > 3 * (steps - 1)); // snapshots were taken
  CHECK(engine.clean());
}

TEST_CASE("particle gibbs on a hostile or full engine: errors are results, every sequence released once",
          "[strategy][particle_gibbs][errors]") {
  const auto suite = test::shared_suite("mixed", 4);
  const problem p = suite->problems[0].as_problem();
  const random_stream s(stream_key{.seed = 3, .problem = p.id});
  const particle_gibbs pg(particle_gibbs_params{.n = 5, .iterations = 3, .references = 2});
  const auto fails = [&](test::hostile_modes modes, const char* what) {
    INFO(what);
    testing::synthetic_model inner(suite);
    test::hostile_stepping model(inner, modes);
    result<strategy_result> r = fail(errc::invalid_argument, "not run");
    CHECK_NOTHROW(r = pg.run(model, inner, p, budget{}, s));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(model.clean());
    CHECK(inner.live_sequences() == 0);
  };
  fails(test::hostile_modes{.forks_before_failure = 2}, "a start fork fails");
  fails(test::hostile_modes{.forks_before_failure = 6}, "a snapshot fork fails in sweep 1");
  fails(test::hostile_modes{.forks_before_failure = 40}, "a fork fails mid-run (snapshots, resampling)");
  fails(test::hostile_modes{.throw_extend_at = 2}, "extend throws");
  fails(test::hostile_modes{.fail_extend_at = 12}, "extend fails mid-run");
  fails(test::hostile_modes{.short_extend_at = 9}, "extend returns a step too few");
  // Nothing ever finishes: the capped particles (and references) compete; or all finish at once.
  for (const bool never : {true, false}) {
    testing::synthetic_model inner(suite);
    test::hostile_stepping model(inner, test::hostile_modes{.never_done = never, .done_at_first_step = !never});
    auto r = particle_gibbs(particle_gibbs_params{.n = 5, .iterations = 3, .references = 2, .max_steps = 12})
                 .run(model, inner, p, budget{}, s);
    REQUIRE(r);
    CHECK(r->samples == 5);
    CHECK(pg_trace_has(*r, "sweep 3: 12 steps") == never);
    CHECK(model.clean());
  }
  // A full engine: snapshot forks and reference copies refused for capacity are dropped offspring.
  for (const std::size_t cap : {6U, 9U, 14U}) {
    INFO("capacity " << cap);
    testing::synthetic_params tight;
    tight.capacity = cap;
    testing::synthetic_model model(suite, tight);
    auto r = pg.run(model, model, p, budget{}, s);
    REQUIRE(r);
    CHECK(r->answer.has_value());
    CHECK(r->cost.peak_live_sequences <= cap);
    CHECK(pg_trace_has(*r, "no capacity"));
    CHECK(model.live_sequences() == 0);
  }
}

TEST_CASE("particle gibbs stops within every budget limit, answering from the last sweep that ran",
          "[strategy][particle_gibbs][budget]") {
  const auto suite = test::lenient_suite("hard", 4);
  const auto& q = suite->problems[1];
  const problem p = q.as_problem();
  const random_stream s(stream_key{.seed = 5, .problem = p.id});
  testing::synthetic_model model(suite, testing::lenient_params());
  const particle_gibbs pg(particle_gibbs_params{.n = 6, .iterations = 3});
  auto full = pg.run(model, model, p, budget{}, s);
  REQUIRE(full);
  REQUIRE_FALSE(full->stopped_by);
  const std::uint64_t g = full->cost.generated_tokens;
  for (const std::uint64_t cap : {g / 5, g / 2, 4 * g / 5}) {
    INFO("generated cap " << cap);
    auto r = pg.run(model, model, p, budget{.max_generated_tokens = cap}, s);
    REQUIRE(r);
    CHECK(r->cost.generated_tokens <= cap);
    REQUIRE(r->stopped_by);
    CHECK(*r->stopped_by == stop_reason::generated_tokens);
    CHECK(model.live_sequences() == 0);
  }
  const std::uint64_t t = full->cost.total_tokens();
  auto total = pg.run(model, model, p, budget{.max_total_tokens = t / 2}, s);
  REQUIRE(total);
  CHECK(total->cost.total_tokens() <= t / 2);
  CHECK(*total->stopped_by == stop_reason::total_tokens);
  // Engine calls: sweep 1 takes q.steps; the budget ends sweep 2 after its second step.
  auto calls = pg.run(model, model, p, budget{.max_engine_calls = q.steps + 2}, s);
  REQUIRE(calls);
  CHECK(calls->cost.engine_calls == q.steps + 2);
  CHECK(*calls->stopped_by == stop_reason::engine_calls);
  CHECK(pg_trace_has(*calls, "sweep 2: "));
  CHECK_FALSE(pg_trace_has(*calls, "sweep 3: "));
  // PRM calls: two whole sweeps, then the third may not start.
  auto prm = pg.run(model, model, p, budget{.max_prm_calls = 2 * q.steps}, s);
  REQUIRE(prm);
  CHECK(prm->cost.prm_calls == 2 * q.steps);
  CHECK(*prm->stopped_by == stop_reason::prm_calls);
  CHECK(pg_trace_has(*prm, "sweep 3 not started: prm_calls"));
  CHECK(prm->answer.has_value());
  // PRM tokens: a limit inside the second sweep ends it there, unscored steps unused.
  auto prm_tokens = pg.run(model, model, p, budget{.max_prm_tokens = full->cost.prm_tokens / 2}, s);
  REQUIRE(prm_tokens);
  CHECK(*prm_tokens->stopped_by == stop_reason::prm_tokens);
  CHECK(prm_tokens->cost.prm_calls < full->cost.prm_calls);
  for (const budget none : {budget{.max_generated_tokens = 0}, budget{.max_prm_calls = 0}, budget{.max_engine_calls = 0},
                            budget{.max_prm_tokens = 0}, budget::deadline_in(std::chrono::seconds(-1))}) {
    auto r = pg.run(model, model, p, none, s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::budget_exhausted);
  }
  CHECK(model.live_sequences() == 0);
}

TEST_CASE("particle gibbs: the friendly names are the default policies", "[strategy][particle_gibbs]") {
  CHECK(std::is_same_v<particle_gibbs, basic_particle_gibbs<>>);
  CHECK(std::is_same_v<weighted_particle_gibbs, basic_particle_gibbs<multinomial_resampler, select_weighted>>);
}
