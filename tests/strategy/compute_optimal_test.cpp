// SPDX-License-Identifier: Apache-2.0
#include <reckon/eval/harness.hpp>
#include <reckon/eval/register_adaptive.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/compute_optimal.hpp>
#include <reckon/strategy/compute_optimal_io.hpp>
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/self_consistency.hpp>

#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cmath>
#include <optional>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>

using namespace reckon;

namespace {

constexpr std::uint64_t seed_a = 11; // calibration suite and run seed
constexpr std::uint64_t seed_b = 22; // evaluation suite and run seed

std::shared_ptr<const testing::suite> suite_of(std::uint64_t seed, std::size_t size) {
  return std::make_shared<const testing::suite>(testing::make_suite("mixed", seed, size).value());
}

std::vector<calibration_problem> calibration(const testing::suite& s) {
  std::vector<calibration_problem> out;
  for (const auto& q : s.problems) out.push_back(calibration_problem{q.as_problem(), q.gold});
  return out;
}

/// One scripted sample: its answer and the ORM score it gets.
struct co_scripted_sample {
  std::string answer;
  double orm = 0.5;
};

/// A sampling model and ORM over scripted pools: problem id i's k-th sample (counted over all its
/// calls, wrapping around) is pools[i][k % size]. Counts its calls; `restart` rewinds every pool.
class co_scripted_pools {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, outcome_reward_model_tag>;

  std::vector<std::vector<co_scripted_sample>> pools;
  std::size_t sample_calls = 0, orm_calls = 0;
  std::size_t short_by = 0;     ///< score_outcomes returns this many scores too few
  bool throw_in_orm = false;    ///< score_outcomes throws std::runtime_error

  result<sample_batch> sample(const problem& p, const sampling_params&, std::uint32_t n) {
    ++sample_calls;
    const auto& pool = pools.at(p.id);
    std::size_t& k = drawn_[p.id];
    sample_batch b;
    for (std::uint32_t i = 0; i < n; ++i, ++k) {
      const co_scripted_sample& s = pool[k % pool.size()];
      completion c;
      c.text = fmt::format("problem {} sample {}: \\boxed{{{}}}", p.id, k, s.answer);
      c.tokens = 5;
      c.source = (p.id << 16) | (k % pool.size());
      b.completions.push_back(std::move(c));
    }
    b.usage.engine_calls = 1;
    b.usage.generated_tokens = 5ULL * n;
    return b;
  }

  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> candidates) {
    ++orm_calls;
    if (throw_in_orm) throw std::runtime_error("the ORM fell over");
    std::vector<double> out;
    for (const auto& c : candidates) out.push_back(pools.at(c.source >> 16).at(c.source & 0xFFFF).orm);
    out.resize(out.size() - std::min(short_by, out.size()));
    return out;
  }

  void restart() { drawn_.clear(); }

private:
  std::map<std::uint64_t, std::size_t> drawn_;
};

/// Pools of three samples, each with ORM score `base` (the odd one out `base` + 0.05), for
/// answers g (gold "7") and w ("5"): majority-only right (g g w, w scored highest), best-ORM-only
/// right (w w g, g scored highest), or both right (g g g). With probe = 3 the difficulty estimate
/// is about 1 - base.
enum class co_kind : std::uint8_t { majority_right, orm_right, both_right };

std::vector<co_scripted_sample> co_pool_of(co_kind kind, double base) {
  switch (kind) {
  case co_kind::majority_right: return {{"7", base}, {"7", base}, {"5", base + 0.05}};
  case co_kind::orm_right: return {{"5", base}, {"5", base}, {"7", base + 0.05}};
  case co_kind::both_right: return {{"7", base}, {"7", base}, {"7", base}};
  }
  return {};
}

/// A bin's problems: fold 0's kinds and fold 1's interleaved (the fitter alternates a bin's
/// members between its folds in calibration order), each as {majority_right, orm_right, both_right} counts.
void add_bin(co_scripted_pools& model, std::vector<calibration_problem>& problems, double base,
             std::array<std::size_t, 3> fold0, std::array<std::size_t, 3> fold1) {
  auto expand = [](std::array<std::size_t, 3> counts) {
    std::vector<co_kind> kinds;
    for (std::size_t k = 0; k < 3; ++k) kinds.insert(kinds.end(), counts[k], static_cast<co_kind>(k));
    return kinds;
  };
  const auto a = expand(fold0), b = expand(fold1);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const co_kind k : {a[i], b[i]}) {
      const std::uint64_t id = model.pools.size();
      model.pools.push_back(co_pool_of(k, base));
      problems.push_back(calibration_problem{problem{id, fmt::format("scripted {}", id)}, "7"});
    }
}

/// An answer key that throws what it is given.
template <class E>
struct co_throwing_key {
  E what;
  std::optional<std::string> operator()(const completion&) const { throw what; }
};

} // namespace

TEST_CASE("regression #13.21: a bin's in-sample argmax that the folds disagree on gives way to the global cell",
          "[strategy][compute_optimal]") {
  // Three bins of 40 scripted problems (probe = budget = 3, methods majority and best-orm), by ORM
  // level: easy (base 0.9), middle (0.6), hard (0.3). Over all 120 problems majority is the better
  // cell (96 against 83, and on each fold). Easy bin: best-orm wins in-sample by one problem (33
  // against 32), but only on fold 0 (6 best-orm-only problems against 2 majority-only) while fold 1
  // says the opposite (2 against 5): noise, which the old exact argmax picked. Held out, the bin's
  // rule wins 2 and loses 5 against the global rule, so the bin takes majority. Hard bin: best-orm
  // is better on both folds (8 against 1 each): held out 16 wins, 2 losses, 14 > 2 x sqrt(18), so
  // it keeps best-orm, and the bins differ.
  co_scripted_pools model;
  std::vector<calibration_problem> problems;
  add_bin(model, problems, 0.9, {2, 6, 12}, {5, 2, 13});
  add_bin(model, problems, 0.6, {14, 0, 6}, {14, 0, 6});
  add_bin(model, problems, 0.3, {1, 8, 11}, {1, 8, 11});
  compute_optimal_fit_params fit;
  fit.budget = 3;
  fit.probe = 3;
  fit.bins = 3;
  fit.methods = {co_method::majority, co_method::best_orm};
  auto t = fit_compute_optimal(model, model, std::span<const calibration_problem>(problems), fit);
  REQUIRE(t);
  INFO(compute_optimal_table_to_json(*t));
  REQUIRE(t->bins.size() == 3);
  CHECK(t->bins[0].method == co_method::majority); // the old fitter: best-orm
  CHECK(t->bins[1].method == co_method::majority);
  CHECK(t->bins[2].method == co_method::best_orm);
  for (const auto& b : t->bins) CHECK(b.n == 3);
  CHECK(t->bins[0].accuracy == test::Approx(32.0 / 40)); // majority on the whole easy bin
  CHECK(t->bins[2].accuracy == test::Approx((22.0 + 16.0) / 40)); // both-right plus the held-out best-orm wins
  // min_z = 0 keeps any held-out gain; the easy bin has none, so it still takes majority.
  fit.min_z = 0.0;
  model.restart();
  auto loose = fit_compute_optimal(model, model, std::span<const calibration_problem>(problems), fit);
  REQUIRE(loose);
  CHECK(loose->bins[0].method == co_method::majority);
  // A test too strict for the hard bin's gain (14 > 5 x 4.24 is false) keeps the global cell there.
  fit.min_z = 5.0;
  model.restart();
  auto strict = fit_compute_optimal(model, model, std::span<const calibration_problem>(problems), fit);
  REQUIRE(strict);
  CHECK(strict->bins[2].method == co_method::majority);
  fit.min_z = -1.0;
  CHECK(fit_compute_optimal(model, model, std::span<const calibration_problem>(problems), fit).error().code ==
        errc::invalid_argument);
}

TEST_CASE("issue #20: compute-optimal routes each problem to its bin's method and n", "[strategy][compute_optimal]") {
  // Three bins, three different choices; one scripted problem per bin that only its bin's choice
  // gets right (gold 7, wrong 5; probe = 3 of 6 samples):
  // - easy (estimate 0.10, bin 0: majority at n = 3): 7 7 5 | 5 5 5, the 5s scored highest;
  // - middle (estimate 0.40, bin 1: weighted-orm at n = 6): 5 7 5 | 7 7 5, the 7s' scores sum higher
  //   while a 5 scores highest and majority at 3 is 5;
  // - hard (estimate 0.70, bin 2: best-orm at n = 6): 5 5 7 | 5 5 5, one 7 scored highest.
  // A router stuck on one bin, or a bin run at the wrong n, gets at least two of them wrong.
  co_scripted_pools model;
  model.pools = {
      {{"7", 0.9}, {"7", 0.9}, {"5", 0.9}, {"5", 0.95}, {"5", 0.95}, {"5", 0.95}},
      {{"5", 0.66}, {"7", 0.57}, {"5", 0.57}, {"7", 0.60}, {"7", 0.60}, {"5", 0.50}},
      {{"5", 0.25}, {"5", 0.25}, {"7", 0.40}, {"5", 0.30}, {"5", 0.30}, {"5", 0.30}},
  };
  compute_optimal_params params;
  params.table.budget = 6;
  params.table.probe = 3;
  params.table.edges = {0.25, 0.55};
  params.table.bins = {{co_method::majority, 3, 0.0}, {co_method::weighted_orm, 6, 0.0}, {co_method::best_orm, 6, 0.0}};
  const compute_optimal co(params);
  const std::array<std::size_t, 3> samples{3, 6, 6}, engine_calls{1, 2, 2}, orm_calls{1, 2, 2};
  for (std::uint64_t id = 0; id < 3; ++id) {
    const problem p{id, "routed"};
    model.sample_calls = model.orm_calls = 0;
    auto r = co.run(model, model, p, budget{}, random_stream(stream_key{.seed = 3, .problem = id}));
    REQUIRE(r);
    INFO("problem " << id);
    CHECK(r->answer == std::optional<std::string>("7"));
    CHECK(r->samples == samples[id]);
    CHECK(model.sample_calls == engine_calls[id]);
    CHECK(model.orm_calls == orm_calls[id]);
    bool named = false;
    for (const auto& e : r->trace) named = named || std::string_view(e.what).find(fmt::format(": bin {} (", id)) != std::string_view::npos;
    CHECK(named);
  }
}

TEST_CASE("regression #13.22: nothing thrown escapes compute_optimal's run or its fitter", "[strategy][compute_optimal]") {
  co_scripted_pools model;
  model.pools = {co_pool_of(co_kind::majority_right, 0.8)};
  const problem p{0, "throws"};
  const random_stream st(stream_key{.seed = 1, .problem = 0});
  compute_optimal_params params;
  params.table.budget = 3;
  params.table.probe = 3;
  params.table.bins = {{co_method::majority, 3, 0.0}};
  // The answer key throws a std::exception, then something that is not one.
  const basic_compute_optimal<co_throwing_key<std::runtime_error>> std_throw(params, {std::runtime_error("bad key")});
  auto a = std_throw.run(model, model, p, budget{}, st);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::engine_failure);
  CHECK(a.error().message.find("bad key") != std::string::npos);
  const basic_compute_optimal<co_throwing_key<int>> int_throw(params, {7});
  auto b = int_throw.run(model, model, p, budget{}, st);
  REQUIRE_FALSE(b);
  CHECK(b.error().code == errc::engine_failure);
  // The fitter, with the same keys.
  const std::vector<calibration_problem> cal{{p, "7"}};
  compute_optimal_fit_params fit;
  fit.budget = 3;
  fit.probe = 3;
  fit.methods = {co_method::majority};
  CHECK(fit_compute_optimal(model, model, std::span<const calibration_problem>(cal), fit, co_throwing_key<int>{1}).error().code ==
        errc::engine_failure);
  CHECK(fit_compute_optimal(model, model, std::span<const calibration_problem>(cal), fit,
                            co_throwing_key<std::runtime_error>{std::runtime_error("x")})
            .error()
            .code == errc::engine_failure);
}

TEST_CASE("compute_optimal is at least as accurate as the best single strategy at n = 8 on mixed",
          "[strategy][compute_optimal][statistics]") {
  // Calibrate on mixed (suite seed 11, run seed 11, 600 problems) at budget 8; evaluate on mixed
  // (suite seed 22, run seed 22, 300 problems), default synthetic reward models (AUC 0.76). The best
  // single strategy is the one the same calibration picks with one bin (Snell et al.'s baseline: the
  // best fixed strategy), run at n = 8; both run on the evaluation suite. Stated tolerance:
  // compute_optimal within 2 points (6 problems) of that strategy's accuracy at no more of its
  // tokens, and within 3 points of the best of the six strategies picked after the fact on the
  // evaluation suite itself (an optimistic bound: the max of six noisy accuracies). Measured: 0.860
  // vs 0.860 (best-orm) at equal tokens; post hoc best 0.880 (best-prm-last). The per-bin choice
  // has little to gain on `mixed`: every method here is a sample pool, and the synthetic reward
  // models' quality does not depend on difficulty, so bins differ only by noise, and the
  // cross-validated fitter keeps best-orm in every bin (the largest held-out gain, bin 2's
  // weighted-orm, is 11 wins against 6 losses: 1.2 standard errors). Routing itself is pinned on a
  // scripted table whose bins differ ("issue #20: compute-optimal routes ...").
  const auto cal = suite_of(seed_a, 600);
  const auto eval = suite_of(seed_b, 300);
  testing::synthetic_model cmodel(cal);
  const auto cp = calibration(*cal);
  compute_optimal_fit_params fit;
  fit.seed = seed_a;
  auto table = fit_compute_optimal(cmodel, cmodel, std::span<const calibration_problem>(cp), fit);
  REQUIRE(table);
  fit.bins = 1;
  fit.methods = {co_method::majority, co_method::weighted_orm, co_method::best_orm, co_method::weighted_prm,
                 co_method::best_prm, co_method::free_energy};
  auto single = fit_compute_optimal(cmodel, cmodel, std::span<const calibration_problem>(cp), fit);
  REQUIRE(single);
  single->bins[0].n = 8; // the same budget
  std::printf("table: %s\nsingle: %s\n", compute_optimal_table_to_json(*table).c_str(), compute_optimal_table_to_json(*single).c_str());
  REQUIRE(compute_optimal_table_from_json(compute_optimal_table_to_json(*table)));

  testing::synthetic_model model(eval);
  auto run_all = [&](auto&& f) { return test::run_suite(*eval, f, seed_b); };
  auto run_table = [&](const compute_optimal_table& t) {
    compute_optimal_params params;
    params.table = t;
    const compute_optimal co(params);
    return run_all([&](const problem& p, const random_stream& s) {
      auto r = co.run(model, model, p, budget{}, s);
      REQUIRE(r);
      CHECK(r->samples <= 8);
      return r;
    });
  };
  const auto mine = run_table(*table);
  const auto fixed = run_table(*single);
  std::printf("compute-optimal: acc %.3f tokens %.1f\nbest single (%s, calibrated): acc %.3f tokens %.1f\n", mine.accuracy,
              mine.mean_total, std::string(to_string(single->bins[0].method)).c_str(), fixed.accuracy, fixed.mean_total);
  const self_consistency sc(self_consistency_params{.n = 8});
  const best_of_n bon(best_of_n_params{.n = 8});
  const weighted_best_of_n wbon(best_of_n_params{.n = 8});
  const basic_best_of_n<select_naive, orm_scorer, canonical_answer_key> bon_orm(best_of_n_params{.n = 8});
  const basic_best_of_n<select_weighted, orm_scorer, canonical_answer_key> wbon_orm(best_of_n_params{.n = 8});
  const free_energy_fusion fe(free_energy_fusion_params{.n = 8});
  double best = 0.0;
  auto note = [&](const char* name, const test::sweep& s) {
    std::printf("%s: acc %.3f tokens %.1f\n", name, s.accuracy, s.mean_total);
    best = std::max(best, s.accuracy);
  };
  note("majority", run_all([&](const problem& p, const random_stream& s) { return sc.run(model, p, budget{}, s); }));
  note("best-prm-last", run_all([&](const problem& p, const random_stream& s) { return bon.run(model, model, p, budget{}, s); }));
  note("weighted-prm-last", run_all([&](const problem& p, const random_stream& s) { return wbon.run(model, model, p, budget{}, s); }));
  note("best-orm", run_all([&](const problem& p, const random_stream& s) { return bon_orm.run(model, model, p, budget{}, s); }));
  note("weighted-orm", run_all([&](const problem& p, const random_stream& s) { return wbon_orm.run(model, model, p, budget{}, s); }));
  note("free-energy", run_all([&](const problem& p, const random_stream& s) { return fe.run(model, p, budget{}, s); }));
  CHECK(mine.accuracy >= fixed.accuracy - 0.02);
  CHECK(mine.accuracy >= best - 0.03);
  CHECK(mine.mean_total <= fixed.mean_total);
}

TEST_CASE("compute_optimal: errors and hostile models", "[strategy][compute_optimal]") {
  const auto s = test::shared_suite("mixed", 5);
  testing::synthetic_model model(s);
  const problem p = s->problems[0].as_problem();
  const random_stream st(stream_key{.seed = 1, .problem = p.id});
  compute_optimal_params bad;
  bad.table.bins.clear();
  CHECK(compute_optimal(bad).run(model, model, p, budget{}, st).error().code == errc::invalid_argument);
  compute_optimal_params empty_delim;
  empty_delim.step_delimiter.clear();
  CHECK(compute_optimal(empty_delim).run(model, model, p, budget{}, st).error().code == errc::invalid_argument);
  budget nan_wall;
  nan_wall.max_wall_seconds = std::nan("");
  CHECK(compute_optimal().run(model, model, p, nan_wall, st).error().code == errc::invalid_argument);
  // A free-energy bin on a model without logprobs, a PRM bin without a PRM: refused before any call,
  // even when the problem would land in another bin.
  struct orm_only : testing::synthetic_model {
    using testing::synthetic_model::synthetic_model;
    using reckon_model_concept = capabilities<sampling_model_tag, outcome_reward_model_tag>;
  } plain(s);
  compute_optimal_params fe;
  fe.table.edges = {2.0}; // every estimate is below: bin 0 (majority) is the one used
  fe.table.bins = {co_choice{co_method::majority, 4, 0.0}, co_choice{co_method::free_energy, 4, 0.0}};
  CHECK(compute_optimal(fe).run(plain, plain, p, budget{}, st).error().code == errc::invalid_argument);
  compute_optimal_params pr = fe;
  pr.table.bins[1].method = co_method::best_prm;
  CHECK(compute_optimal(pr).run(plain, plain, p, budget{}, st).error().code == errc::invalid_argument);
  CHECK(compute_optimal(pr).run(model, model, p, budget{}, st)); // with a PRM it runs

  // Engines that fail, throw, or return one completion too few; ORMs that throw or score too few.
  test::failing_model down;
  test::throwing_model thrower;
  test::short_model shorted;
  compute_optimal_params four;
  four.table.bins = {{co_method::majority, 4, 0.0}};
  CHECK(compute_optimal(four).run(down, model, p, budget{}, st).error().code == errc::engine_failure);
  CHECK(compute_optimal(four).run(thrower, model, p, budget{}, st).error().code == errc::engine_failure);
  CHECK(compute_optimal(four).run(shorted, model, p, budget{}, st).error().code == errc::engine_failure);
  co_scripted_pools scripted;
  scripted.pools = {co_pool_of(co_kind::majority_right, 0.8)};
  compute_optimal_params three;
  three.table.budget = 3;
  three.table.probe = 3;
  three.table.bins = {{co_method::majority, 3, 0.0}};
  const problem q{0, "hostile"};
  scripted.throw_in_orm = true;
  CHECK(compute_optimal(three).run(scripted, scripted, q, budget{}, st).error().code == errc::engine_failure);
  scripted.throw_in_orm = false;
  scripted.short_by = 1;
  CHECK(compute_optimal(three).run(scripted, scripted, q, budget{}, st).error().code == errc::engine_failure);
  const std::vector<calibration_problem> cal{{q, "7"}};
  compute_optimal_fit_params fit;
  fit.budget = 3;
  fit.probe = 3;
  fit.methods = {co_method::majority};
  CHECK(fit_compute_optimal(scripted, scripted, std::span<const calibration_problem>(cal), fit).error().code == errc::engine_failure);
  CHECK(fit_compute_optimal(down, model, std::span<const calibration_problem>(cal), fit).error().code == errc::engine_failure);
}

TEST_CASE("compute_optimal: every budget limit binds, and the run stays inside it", "[strategy][compute_optimal]") {
  // One bin: weighted-prm-last at n = 8 (probe 2): the run would make 2 engine calls (2 + 6
  // samples), 1 ORM call and 1 PRM call. Each limit below cuts it somewhere; the run must stop
  // there, say which limit stopped it, and never spend past it. When a reward call is refused the
  // answer is the majority over the samples already drawn.
  const auto s = test::lenient_suite("mixed", 5);
  testing::synthetic_model model(s, testing::lenient_params());
  const problem p = s->problems[0].as_problem();
  const random_stream st(stream_key{.seed = 1, .problem = p.id});
  compute_optimal_params one;
  one.table.bins = {co_choice{co_method::weighted_prm, 8, 0.0}};
  one.sampling.max_tokens = 100;
  const compute_optimal co(one);
  auto free_run = co.run(model, model, p, budget{}, st);
  REQUIRE(free_run);
  REQUIRE(free_run->samples == 8);
  CHECK(free_run->cost.engine_calls == 2);
  CHECK(free_run->cost.prm_calls == 2);
  CHECK_FALSE(free_run->stopped_by);

  budget tiny;
  tiny.max_generated_tokens = 10; // not one sample of up to 100 tokens
  CHECK(co.run(model, model, p, tiny, st).error().code == errc::budget_exhausted);
  CHECK(co.run(model, model, p, budget::deadline_in(std::chrono::seconds(-1)), st).error().code == errc::budget_exhausted);

  budget gen;
  gen.max_generated_tokens = 500; // the probe, then 3 more of up to 100 tokens
  auto r = co.run(model, model, p, gen, st);
  REQUIRE(r);
  CHECK(r->cost.generated_tokens <= 500);
  CHECK(r->samples == 5);
  CHECK(r->stopped_by == stop_reason::generated_tokens);

  budget total;
  total.max_total_tokens = free_run->cost.prefilled_tokens + 400;
  r = co.run(model, model, p, total, st);
  REQUIRE(r);
  CHECK(r->samples < 8);
  CHECK(r->stopped_by == stop_reason::total_tokens);
  // sampling_rounds' stated slack: a first call that prefills more than its estimate.
  CHECK(r->cost.total_tokens() <= total.max_total_tokens + free_run->cost.prefilled_tokens / 2);

  budget calls;
  calls.max_engine_calls = 1; // the probe only; the PRM still scores the two samples paid for
  r = co.run(model, model, p, calls, st);
  REQUIRE(r);
  CHECK(r->cost.engine_calls == 1);
  CHECK(r->samples == 2);
  CHECK(r->stopped_by == stop_reason::engine_calls);
  CHECK(r->cost.prm_calls == 2);

  budget no_reward;
  no_reward.max_prm_calls = 0; // sampling goes on, scoring does not: no estimate, the probe's majority
  r = co.run(model, model, p, no_reward, st);
  REQUIRE(r);
  CHECK(r->cost.prm_calls == 0);
  CHECK(r->samples == 2);
  CHECK(r->stopped_by == stop_reason::prm_calls);
  // Both probe samples are cut at 100 tokens before their answer: nothing to vote on (the
  // synthetic step tags hold no digit a fallback could misread as an answer).
  CHECK_FALSE(r->answer);

  budget one_reward;
  one_reward.max_prm_calls = 1; // the estimate, then no PRM: the majority of all 8
  r = co.run(model, model, p, one_reward, st);
  REQUIRE(r);
  CHECK(r->cost.prm_calls == 1);
  CHECK(r->samples == 8);
  CHECK(r->stopped_by == stop_reason::prm_calls);

  budget reward_tokens;
  reward_tokens.max_prm_tokens = free_run->cost.prm_tokens - 1; // the ORM call fits, the PRM call would not
  r = co.run(model, model, p, reward_tokens, st);
  REQUIRE(r);
  CHECK(r->cost.prm_tokens <= reward_tokens.max_prm_tokens);
  CHECK(r->cost.prm_calls == 1);
  CHECK(r->stopped_by == stop_reason::prm_tokens);
  reward_tokens.max_prm_tokens = 1; // not even the probe's ORM call: the probe's majority
  r = co.run(model, model, p, reward_tokens, st);
  REQUIRE(r);
  CHECK(r->cost.prm_tokens == 0);
  CHECK(r->cost.prm_calls == 0);
  CHECK(r->samples == 2);
  CHECK_FALSE(r->answer); // as above: the probe's two capped samples hold no answer
  CHECK(r->stopped_by == stop_reason::prm_tokens);

  budget wall;
  wall.max_wall_seconds = 0.0; // spent at once: the probe is refused
  CHECK(co.run(model, model, p, wall, st).error().code == errc::budget_exhausted);
}

TEST_CASE("reckon-eval: zip-rc, odar, slow-best-of-5 and compute-optimal run through the harness",
          "[strategy][compute_optimal][eval]") {
  eval::strategy_registry registry;
  eval::register_builtin_strategies(registry);
  eval::register_adaptive(registry);
  for (const char* name : {"zip-rc", "odar", "slow-best-of-5", "compute-optimal"}) {
    const auto* e = registry.find(name);
    REQUIRE(e != nullptr);
    CHECK(e->synthetic);
  }
  const auto s = testing::make_suite("mixed", testing::default_suite_seed, 40).value();
  eval::grid_params grid;
  grid.strategies = {"majority", "zip-rc", "odar", "slow-best-of-5", "compute-optimal"};
  grid.budgets = {4};
  grid.seed = 7;
  grid.threads = 2;
  auto rows = eval::run_grid(s, registry, grid);
  REQUIRE(rows);
  REQUIRE(rows->size() == 5);
  for (const auto& row : *rows) {
    std::printf("%s n=%u: acc %.3f tokens %.1f errors %zu %s\n", row.strategy.c_str(), row.budget, row.accuracy,
                row.tokens_mean, row.errors, row.first_error.c_str());
    CHECK(row.errors == 0);
    CHECK(row.answered == 40);
    CHECK(row.accuracy >= 0.5); // a sanity floor (one sample: ~0.6); accuracy claims live in each strategy's test
  }
  // compute-optimal against majority at the same budget: at least 2 problems of 40 better (measured:
  // 0.900 against 0.775, 5 better).
  CHECK((*rows)[0].strategy == "majority");
  CHECK((*rows)[4].strategy == "compute-optimal");
  CHECK((*rows)[4].accuracy >= (*rows)[0].accuracy + 0.05);
  for (std::size_t i = 1; i < rows->size(); ++i) CHECK((*rows)[i].tokens_mean > 0.0); // odar's agents counted too
  grid.threads = 1;
  auto again = eval::run_grid(s, registry, grid);
  REQUIRE(again);
  CHECK(*again == *rows); // identical at any thread count
}

namespace {

/// A sampler, reviser and ORM over scripted problems, for compute-optimal's revisions bins. An
/// attempt's text is "p<id> d<depth> o=<orm> \boxed{<answer>}": problem id's k-th sample (over all
/// its calls) is samples[id][k % size] at depth 0; a revision of a depth-d candidate is
/// revisions[id][min(d, size - 1)] at depth d + 1. The ORM reads o=. Every call is recorded.
struct co_chain_model {
  using reckon_model_concept = capabilities<sampling_model_tag, reviser_tag, outcome_reward_model_tag>;
  std::vector<std::vector<co_scripted_sample>> samples, revisions;
  std::size_t sample_calls = 0, orm_calls = 0;
  std::vector<std::size_t> revise_batches;  ///< requests per revise call
  std::vector<std::size_t> history_sizes;   ///< per request, in order
  std::map<std::uint64_t, std::size_t> drawn;

  static std::string text(std::uint64_t id, std::size_t depth, const co_scripted_sample& s) {
    return fmt::format("p{} d{} o={} \\boxed{{{}}}", id, depth, s.orm, s.answer);
  }
  static std::size_t depth_of(const std::string& t) { return std::stoul(t.substr(t.find(" d") + 2)); }
  result<sample_batch> sample(const problem& p, const sampling_params&, std::uint32_t n) {
    ++sample_calls;
    sample_batch b;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto& pool = samples.at(p.id);
      completion c;
      c.text = text(p.id, 0, pool[drawn[p.id]++ % pool.size()]);
      c.tokens = 5;
      b.completions.push_back(std::move(c));
    }
    b.usage = {.prefilled_tokens = 0, .generated_tokens = 5ULL * n, .engine_calls = 1};
    return b;
  }
  result<sample_batch> revise(const problem& p, std::span<const revision_request> rq, const sampling_params&) {
    revise_batches.push_back(rq.size());
    sample_batch b;
    for (const auto& r : rq) {
      history_sizes.push_back(r.history.size());
      const std::size_t d = depth_of(r.candidate.steps[0]);
      const auto& script = revisions.at(p.id);
      completion c;
      c.text = text(p.id, d + 1, script[std::min(d, script.size() - 1)]);
      c.tokens = 5;
      b.completions.push_back(std::move(c));
    }
    b.usage = {.prefilled_tokens = 0, .generated_tokens = 5ULL * rq.size(), .engine_calls = 1};
    return b;
  }
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> c) {
    ++orm_calls;
    std::vector<double> out;
    for (const auto& v : c) out.push_back(std::stod(v.steps[0].substr(v.steps[0].find("o=") + 2)));
    return out;
  }
};

/// A one-bin table choosing revisions at n with chains of `length` attempts (budget n, probe 2).
compute_optimal_params revisions_table(std::uint32_t n, std::uint32_t length) {
  compute_optimal_params params;
  params.table.budget = n;
  params.table.probe = 2;
  params.table.bins = {co_choice{co_method::revisions, n, 0.0, length}};
  return params;
}

} // namespace

TEST_CASE("compute_optimal: a revisions bin runs n / L chains of L attempts from the probe samples",
          "[strategy][compute_optimal][sequential_revisions]") {
  // Samples say 5 (ORM 0.5), every revision says 7 (ORM 0.6): only the revisions bin's chains can
  // answer 7, so a bin that fell back to the sample pool would answer 5.
  co_chain_model model;
  model.samples = {{{"5", 0.5}}};
  model.revisions = {{{"7", 0.6}}};
  const problem p{0, "chains"};
  struct expect {
    std::uint32_t length;
    std::size_t sample_calls, revise_calls, chains;
  };
  for (const expect e : {expect{4, 1, 3, 2}, expect{8, 1, 6, 1}, expect{2, 2, 1, 4}, expect{1, 2, 0, 8}}) {
    INFO("L = " << e.length);
    model.sample_calls = model.orm_calls = 0;
    model.revise_batches.clear();
    model.history_sizes.clear();
    model.drawn.clear();
    auto r = compute_optimal(revisions_table(8, e.length)).run(model, model, p, budget{}, random_stream{});
    REQUIRE(r);
    CHECK(r->samples == 8);
    CHECK(r->cost.generated_tokens == 40); // n = P x L generations in all, the probe included
    CHECK(model.sample_calls == e.sample_calls);
    CHECK(model.revise_batches.size() == e.revise_calls);
    CHECK(model.orm_calls == (e.revise_calls + (e.sample_calls - 1) > 0 ? 2u : 1u)); // the probe's scores are reused
    CHECK(r->answer == (e.length == 1 ? "5" : "7"));
    for (const std::size_t batch : model.revise_batches) CHECK(batch == e.chains);
    for (const std::size_t h : model.history_sizes) CHECK(h <= 3); // the 4 most recent attempts at most
    bool named = false;
    for (const auto& ev : r->trace)
      named = named || ev.what.find(fmt::format("revisions at n = 8: {} chains x {} attempts", 8 / e.length, e.length)) != std::string::npos;
    CHECK(named);
  }
  SECTION("fully sequential after a 2-sample probe: the chain starts from both samples") {
    model.history_sizes.clear();
    model.drawn.clear();
    REQUIRE(compute_optimal(revisions_table(8, 8)).run(model, model, p, budget{}, random_stream{}));
    CHECK(model.history_sizes == std::vector<std::size_t>{1, 2, 3, 3, 3, 3});
  }
  SECTION("the budget: no revision is paid for that could not be scored; engine calls bind") {
    model.drawn.clear();
    auto q = compute_optimal(revisions_table(8, 4)).run(model, model, p, budget{.max_prm_calls = 1}, random_stream{});
    REQUIRE(q);
    CHECK(q->cost.prm_calls == 1);
    CHECK(q->cost.engine_calls == 1);
    CHECK(*q->stopped_by == stop_reason::prm_calls);
    CHECK(q->answer == "5"); // the majority over the two samples drawn
    auto e = compute_optimal(revisions_table(8, 4)).run(model, model, p, budget{.max_engine_calls = 2}, random_stream{});
    REQUIRE(e);
    CHECK(e->cost.engine_calls == 2);
    CHECK(*e->stopped_by == stop_reason::engine_calls);
    CHECK(e->samples == 4);
    CHECK(e->cost.prm_calls == 2); // the revisions paid for are scored
    CHECK(e->answer == "7");
  }
}

TEST_CASE("compute_optimal: a revisions bin needs a reviser; tables check and read its length",
          "[strategy][compute_optimal][sequential_revisions][errors]") {
  co_scripted_pools plain; // samples and scores, cannot revise
  plain.pools = {co_pool_of(co_kind::both_right, 0.8)};
  const problem p{0, "no reviser"};
  auto r = compute_optimal(revisions_table(4, 2)).run(plain, plain, p, budget{}, random_stream{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("revisions bin needs a model that revises"));
  const std::vector<calibration_problem> cal{{p, "7"}};
  compute_optimal_fit_params fit;
  fit.budget = 4;
  fit.methods = {co_method::revisions};
  CHECK(fit_compute_optimal(plain, plain, std::span<const calibration_problem>(cal), fit).error().code == errc::invalid_argument);
  co_chain_model model;
  model.samples = {{{"5", 0.5}}};
  model.revisions = {{{"7", 0.6}}};
  auto zero_context = revisions_table(4, 2);
  zero_context.context = 0;
  CHECK(compute_optimal(zero_context).run(model, model, p, budget{}, random_stream{}).error().code == errc::invalid_argument);

  compute_optimal_table t;
  t.budget = 8;
  t.edges = {0.5};
  t.bins = {{co_method::revisions, 8, 0.7, 4}, {co_method::majority, 8, 0.6}};
  CHECK(t.check());
  t.bins[0].length = 3; // does not divide 8
  CHECK_FALSE(t.check());
  t.bins[0].length = 4;
  t.bins[1].length = 2; // only a revisions bin has chains
  CHECK_FALSE(t.check());
  t.bins[1].length = 1;
  const std::string json = compute_optimal_table_to_json(t);
  CHECK(json.find(R"({"method":"revisions","n":8,"accuracy":0.7,"length":4})") != std::string::npos);
  CHECK(json.find(R"({"method":"majority","n":8,"accuracy":0.6})") != std::string::npos); // others as before
  auto back = compute_optimal_table_from_json(json);
  REQUIRE(back);
  CHECK(back->bins[0].method == co_method::revisions);
  CHECK(back->bins[0].length == 4);
  CHECK(back->bins[1].length == 1);
  auto bad = compute_optimal_table_from_json(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"revisions","n":8,"length":-1}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "compute_optimal_table: 'bins[0].length' must be a non-negative integer");
  CHECK_FALSE(compute_optimal_table_from_json(R"({"budget":8,"probe":2,"edges":[],"bins":[{"method":"revisions","n":8,"length":3}]})"));
}

TEST_CASE("compute_optimal fits the sequential/parallel ratio per bin by two-fold cross-validation",
          "[strategy][compute_optimal][sequential_revisions]") {
  // Budget 4, probe 2, method revisions only: cells (n, L) = (2, 1), (2, 2), (4, 1), (4, 2), (4, 4).
  // Easy problems (samples' ORM 0.9: estimate 0.1): the samples say 5 and 4, a first revision says
  // 6 (ORM 0.1), a second 7 (ORM 0.95): only the fully sequential chain (4, 4) reaches 7 with the
  // largest summed score in its chain. Hard problems (ORM 0.2: estimate 0.8): the samples say 7,
  // every revision breaks it to 5 (ORM 0.9): only parallel cells (L = 1) keep 7. 10 of each: the
  // easy bin's own argmax wins all 10 of its held-out problems against the global cell ((2, 1), the
  // first of the tied best), well past the McNemar threshold (2 sqrt 10 = 6.3); the hard bin's own
  // argmax is the global cell.
  co_chain_model model;
  std::vector<calibration_problem> cal;
  for (std::uint64_t id = 0; id < 20; ++id) {
    const bool easy = id % 2 == 0;
    model.samples.push_back(easy ? std::vector<co_scripted_sample>{{"5", 0.9}, {"4", 0.9}}
                                 : std::vector<co_scripted_sample>{{"7", 0.2}, {"7", 0.2}});
    model.revisions.push_back(easy ? std::vector<co_scripted_sample>{{"6", 0.1}, {"7", 0.95}}
                                   : std::vector<co_scripted_sample>{{"5", 0.9}});
    cal.push_back(calibration_problem{problem{id, "ratio"}, "7"});
  }
  compute_optimal_fit_params fit;
  fit.budget = 4;
  fit.probe = 2;
  fit.bins = 2;
  fit.methods = {co_method::revisions};
  auto t = fit_compute_optimal(model, model, std::span<const calibration_problem>(cal), fit);
  REQUIRE(t);
  REQUIRE(t->bins.size() == 2);
  CHECK(t->bins[0].method == co_method::revisions);
  CHECK(t->bins[0].n == 4);
  CHECK(t->bins[0].length == 4); // easy: fully sequential
  CHECK(t->bins[0].accuracy == test::Approx(1.0));
  CHECK(t->bins[1].length == 1); // hard: parallel
  CHECK(t->bins[1].accuracy == test::Approx(1.0));
  // The fitted table routes a fresh easy and a fresh hard problem to their ratios, both right.
  model.drawn.clear();
  const compute_optimal co(compute_optimal_params{.table = *t});
  for (const std::uint64_t id : {0ULL, 1ULL}) {
    auto r = co.run(model, model, problem{id, "ratio"}, budget{}, random_stream(stream_key{.seed = 5, .problem = id}));
    REQUIRE(r);
    CHECK(r->answer == "7");
  }
  SECTION("with the pool methods searched too, the ratio still wins the easy bin") {
    fit.methods = {co_method::majority, co_method::weighted_orm, co_method::revisions};
    auto both = fit_compute_optimal(model, model, std::span<const calibration_problem>(cal), fit);
    REQUIRE(both);
    CHECK(both->bins[0].method == co_method::revisions);
    CHECK(both->bins[0].length == 4);
    CHECK(both->bins[1].length == 1);
  }
}
