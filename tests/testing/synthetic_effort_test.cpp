// SPDX-License-Identifier: Apache-2.0
// Tests of the synthetic model's effort levels and self-rated step difficulty (SCALE, #16.3).
#include <reckon/testing/synthetic_model.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace reckon;
using namespace reckon::testing;

namespace {

std::shared_ptr<const suite> effort_suite(std::string_view name, std::size_t n) {
  return std::make_shared<const suite>(make_suite(name, default_suite_seed, n).value());
}

// The first step of `paths` fresh sequences of q at one effort: (errors, tokens).
std::pair<std::size_t, std::uint64_t> first_steps(synthetic_model& m, const synthetic_problem& q, effort_level e,
                                                  std::size_t paths) {
  std::size_t wrong = 0;
  std::uint64_t tokens = 0;
  for (std::size_t i = 0; i < paths; ++i) {
    const auto s = m.begin(q.as_problem()).value();
    const std::uint64_t seed = 1000 + i;
    const auto b = m.extend(std::span(&s, 1), step_params{.max_step_tokens = 4000, .effort = e}, std::span(&seed, 1)).value();
    tokens += b.steps[0].tokens;
    wrong += m.is_wrong(s) ? 1 : 0;
    m.release(s);
  }
  return {wrong, tokens};
}

} // namespace

TEST_CASE("a deliberate step errs and writes at the slow agent's scales", "[synthetic][effort]") {
  auto s = effort_suite("hard", 300);
  synthetic_model m(s);
  const synthetic_problem* q = nullptr;
  for (const auto& x : s->problems)
    if (x.trap_step != 1 && x.difficulty > 0.8) { q = &x; break; }
  REQUIRE(q != nullptr);
  const std::size_t n = 6000;
  const auto [w_std, t_std] = first_steps(m, *q, effort_level::standard, n);
  const auto [w_del, t_del] = first_steps(m, *q, effort_level::deliberate, n);
  const double e_std = m.step_error(*q), e_del = m.step_error(*q, slow_agent());
  // Binomial SD at n = 6000 and e ~ 0.13: 0.0043; 4 SD.
  CHECK(std::abs(static_cast<double>(w_std) / n - e_std) < 4.0 * std::sqrt(e_std * (1 - e_std) / n));
  CHECK(std::abs(static_cast<double>(w_del) / n - e_del) < 4.0 * std::sqrt(e_del * (1 - e_del) / n));
  // The mean token ratio is the token scales' (1.5), within 3% (uniform spread, 6000 steps each).
  CHECK(static_cast<double>(t_del) / static_cast<double>(t_std) == Approx(1.5).epsilon(0.03));
}

TEST_CASE("a deliberate step with the agent's own scales is the standard step, draw for draw", "[synthetic][effort]") {
  auto s = effort_suite("mixed", 20);
  synthetic_params same;
  same.deliberate = same.agent;
  synthetic_model a(s), b(s, same);
  for (const auto& q : s->problems) {
    auto sa = a.begin(q.as_problem()).value();
    auto sb = b.begin(q.as_problem()).value();
    for (std::uint64_t k = 0; k < 40 && !a.is_done(sa); ++k) {
      const std::uint64_t seed = 77 + k;
      const auto x = a.extend(std::span(&sa, 1), step_params{.stats = {.logprobs = true}}, std::span(&seed, 1)).value();
      const auto y = b.extend(std::span(&sb, 1), step_params{.stats = {.logprobs = true}, .effort = effort_level::deliberate},
                              std::span(&seed, 1))
                         .value();
      REQUIRE(x.steps[0].text == y.steps[0].text);
      REQUIRE(x.steps[0].stats.logprob == y.steps[0].stats.logprob);
    }
    a.release(sa);
    b.release(sb);
  }
}

TEST_CASE("self-ratings are the true step difficulty plus the stated noise; seen traps rate hard", "[synthetic][rating]") {
  auto s = effort_suite("mixed", 300);
  synthetic_model m(s);
  double sum = 0.0, sq = 0.0;
  std::size_t n = 0, traps = 0, seen = 0, rated_hard = 0;
  for (const auto& q : s->problems) {
    const auto plan = m.rate_plan(q.as_problem(), 5).value();
    REQUIRE(plan.difficulty.size() == q.steps);
    CHECK(plan.usage.engine_calls == 1);
    CHECK(plan.usage.prefilled_tokens == q.prompt_tokens);
    for (std::uint32_t k = 1; k <= q.steps; ++k) {
      const double r = plan.difficulty[k - 1];
      REQUIRE((r >= 0.0 && r <= 1.0));
      if (k == q.trap_step) continue;
      if (q.difficulty > 0.4 && q.difficulty < 0.6) { // clamping is 2.7 SD away
        sum += r - q.difficulty;
        sq += (r - q.difficulty) * (r - q.difficulty);
        ++n;
      }
    }
    if (q.trap_step != 0) {
      ++traps;
      seen += m.sees_trap(q) ? 1 : 0;
      if (m.sees_trap(q)) rated_hard += plan.difficulty[q.trap_step - 1] > 0.7 ? 1 : 0;
    }
  }
  REQUIRE(n > 200);
  const double mean = sum / static_cast<double>(n), sd = std::sqrt(sq / static_cast<double>(n) - mean * mean);
  CHECK(std::abs(mean) < 4.0 * 0.15 / std::sqrt(static_cast<double>(n)));
  CHECK(sd == Approx(0.15).epsilon(0.15));
  // Seen traps are rated 1 + noise, clamped: above 0.7 (2 SD) with probability 0.977.
  // trap_seen 0.5 over ~70 traps: within 4 binomial SD.
  REQUIRE(traps > 30);
  CHECK(std::abs(static_cast<double>(seen) / traps - 0.5) < 4.0 * std::sqrt(0.25 / traps));
  CHECK(static_cast<double>(rated_hard) >= 0.9 * static_cast<double>(seen));
}

TEST_CASE("rate_next rates each live sequence's next step in its context and refuses bad handles", "[synthetic][rating]") {
  auto s = effort_suite("mixed", 5);
  synthetic_model m(s);
  const auto& q = s->problems[0];
  auto a = m.begin(q.as_problem()).value();
  auto b = m.fork(a).value();
  const std::uint64_t seed = 3;
  const auto st = m.extend(std::span(&a, 1), step_params{}, std::span(&seed, 1)).value();
  const std::vector<std::uint32_t> both{a, b};
  const std::vector<std::uint64_t> seeds{9, 9};
  const auto r = m.rate_next(both, seeds).value();
  REQUIRE(r.difficulty.size() == 2);
  CHECK(r.usage.engine_calls == 1);
  CHECK(r.usage.prefilled_tokens == 2 * q.prompt_tokens + st.steps[0].tokens); // the context, afresh
  CHECK(r.usage.generated_tokens == 2 * m.params().rating.tokens);
  CHECK(r.difficulty[0] != r.difficulty[1]); // keyed by the prefix: a's step 2, b's step 1
  CHECK(m.rate_next(both, seeds).value().difficulty == r.difficulty); // reproducible
  CHECK_FALSE(m.rate_next(both, std::span(seeds).first(1)).has_value());
  m.release(b);
  CHECK(m.rate_next(both, seeds).error().code == errc::invalid_argument);
  m.release(a);
  CHECK(m.rate_plan(problem{.id = 123456789, .prompt = "x"}, 1).error().code == errc::invalid_argument);
}

TEST_CASE("the fingerprint covers the effort and rating parameters", "[synthetic][rating]") {
  synthetic_params a, b, c;
  b.rating.noise = 0.2;
  c.deliberate.error_scale = 0.4;
  CHECK(fingerprint(a) != fingerprint(b));
  CHECK(fingerprint(a) != fingerprint(c));
  synthetic_params bad;
  bad.rating.trap_seen = 1.5;
  CHECK_THROWS(synthetic_model(effort_suite("easy", 2), bad));
}
