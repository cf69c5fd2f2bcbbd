// SPDX-License-Identifier: Apache-2.0
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/particle_gibbs.hpp>

#include "hostile_stepping.hpp"
#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <cstddef>
#include <limits>
#include <string>
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
  const auto suite = test::shared_suite("hard", 10);
  testing::synthetic_model model(suite);
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

TEST_CASE("particle gibbs vs the particle filter at matched compute on hard", "[strategy][particle_gibbs][statistics][.measure]") {
  const auto suite = test::shared_suite("hard", 200);
  for (const double sep : {1.0, 3.0}) {
    testing::synthetic_params sp;
    sp.prm.separation = sep;
    testing::synthetic_model model(suite, sp);
    const particle_filter pf(particle_filter_params{.n = 8});
    const particle_gibbs pg(particle_gibbs_params{.n = 4, .iterations = 2, .references = 1});
    const particle_gibbs pg4(particle_gibbs_params{.n = 8, .iterations = 4, .references = 1});
    const particle_filter pf32(particle_filter_params{.n = 32});
    const auto a = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pf.run(model, model, p, budget{}, s); });
    const auto b = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pg.run(model, model, p, budget{}, s); });
    const auto c = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pg4.run(model, model, p, budget{}, s); });
    const auto d = test::run_suite(*suite, [&](const problem& p, const random_stream& s) { return pf32.run(model, model, p, budget{}, s); });
    WARN("sep " << sep << ": pf8 " << a.accuracy << " (" << a.mean_generated << ") pg4x2 " << b.accuracy << " ("
                << b.mean_generated << ") pg8x4 " << c.accuracy << " (" << c.mean_generated << ") pf32 " << d.accuracy
                << " (" << d.mean_generated << ")");
  }
}
