// SPDX-License-Identifier: Apache-2.0
// reckon-eval registrations of the adaptive strategies: zip-rc, odar, slow-best-of-5, compute-optimal.
#pragma once

// Budget semantics (budget = n): zip-rc starts at most n samples; odar's slow route draws n slow
// samples (2 fast probes first); slow-best-of-5 always draws 5 (the budget is ignored: it is ODAR's
// fixed baseline); compute-optimal draws at most n samples with a table fitted for n.
// Calibration: odar's router and compute-optimal's tables are fitted once per process (per suite
// name and budget) on a 200-problem suite of the same name generated from the run suite's seed + 1,
// with run seed 1 (evaluation runs use the harness's seeds), and cached (thread-safe).
// Cost: zip-rc and compute-optimal run on the harness's model, so its meter sees every token. odar
// and slow-best-of-5 build their fast and slow agents (testing::fast_agent(), slow_agent()) over the
// harness's suite and parameters; their ledgers reach the harness through run_config::side_costs
// (raw tokens of both agents, not cost-weighted).

#include <reckon/budget/ledger.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/eval/registry.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/compute_optimal.hpp>
#include <reckon/strategy/odar.hpp>
#include <reckon/strategy/zip_rc.hpp>
#include <reckon/testing/suite.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace reckon::eval {

namespace adaptive {

/// Hands the ledger of models the harness's meter did not see (the fast and slow agents) to the
/// harness, which adds it to the row's costs.
inline void add_cost(const run_config& c, const ledger& cost) {
  if (c.side_costs != nullptr) *c.side_costs += cost;
}

/// The calibration suite for a run suite: same name (mixed when not a built-in), seed + 1, 200 problems.
[[nodiscard]] inline std::shared_ptr<const testing::suite> calibration_suite(const testing::suite& s) {
  auto made = testing::make_suite(s.name, s.seed + 1, 200);
  if (!made) made = testing::make_suite("mixed", s.seed + 1, 200);
  return std::make_shared<const testing::suite>(std::move(made).value());
}

/// The synthetic model's parameters with another agent.
[[nodiscard]] inline testing::synthetic_params with_agent(testing::synthetic_params p, testing::agent_params a) {
  p.agent = a;
  return p;
}

/// The odar router fitted for a suite (cached per suite name and seed).
[[nodiscard]] inline result<difficulty_model> router_for(const testing::synthetic_model& m) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::uint64_t>, difficulty_model> cache;
  const auto key = std::make_pair(m.problems().name, m.problems().seed);
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const auto cal = calibration_suite(m.problems());
  testing::synthetic_model fast(cal, with_agent(m.params(), testing::fast_agent()));
  const odar router;
  Eigen::MatrixXd x(static_cast<Eigen::Index>(cal->problems.size()), static_cast<Eigen::Index>(odar_features::size));
  std::vector<int> y;
  for (std::size_t i = 0; i < cal->problems.size(); ++i) {
    const auto& q = cal->problems[i];
    const problem p = q.as_problem();
    auto pr = router.probe(fast, p, budget{}, random_stream(stream_key{1, p.id, 0, 0}));
    if (!pr) return pr.error();
    x.row(static_cast<Eigen::Index>(i)) = pr->features.vector().transpose();
    y.push_back(pr->answer && *pr->answer == canonicalize(q.gold).key ? 0 : 1);
  }
  auto fitted = fit_difficulty_model(x, y);
  if (!fitted) return fitted.error();
  cache.emplace(key, *fitted);
  return *fitted;
}

/// The compute-optimal table fitted for a suite and budget (cached).
[[nodiscard]] inline result<compute_optimal_table> table_for(const testing::synthetic_model& m, std::uint32_t n) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::uint64_t, std::uint32_t>, compute_optimal_table> cache;
  const auto key = std::make_tuple(m.problems().name, m.problems().seed, n);
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const auto cal = calibration_suite(m.problems());
  testing::synthetic_model model(cal, m.params());
  std::vector<calibration_problem> problems;
  for (const auto& q : cal->problems) problems.push_back(calibration_problem{q.as_problem(), q.gold});
  compute_optimal_fit_params fit;
  fit.budget = n;
  fit.probe = n < 2 ? n : 2;
  fit.seed = 1;
  auto table = fit_compute_optimal(model, model, std::span<const calibration_problem>(problems), fit);
  if (!table) return table.error();
  cache.emplace(key, *table);
  return *table;
}

/// zip-rc: ZIP-RC with at most n samples on the harness's (introspective) model.
struct zip_rc_runner {
  template <class M>
    requires introspective_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    zip_rc_params params;
    params.n = c.budget;
    params.initial = c.budget < 2 ? c.budget : 2;
    auto r = zip_rc(params).run(model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r->answer};
  }
};

/// odar: the router over fast and slow synthetic agents built from the harness's model.
struct odar_runner {
  result<run_outcome> operator()(synthetic_meter& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    const testing::synthetic_model& base = model.model();
    auto router = router_for(base);
    if (!router) return router.error();
    testing::synthetic_model fast(base.shared_problems(), with_agent(base.params(), testing::fast_agent()));
    testing::synthetic_model slow(base.shared_problems(), with_agent(base.params(), testing::slow_agent()));
    odar_params params;
    params.slow_n = c.budget;
    params.router = *router;
    auto r = odar(params).run(fast, slow, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    add_cost(c, r->cost);
    return run_outcome{r->answer};
  }
};

/// slow-best-of-5: always the slow agent, 5 samples fused by free energy.
struct slow_best_of_5_runner {
  result<run_outcome> operator()(synthetic_meter& model, const problem& p, const run_config& c) const {
    const testing::synthetic_model& base = model.model();
    testing::synthetic_model slow(base.shared_problems(), with_agent(base.params(), testing::slow_agent()));
    const free_energy_fusion fuse(free_energy_fusion_params{.n = 5});
    auto r = fuse.run(slow, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    add_cost(c, r->cost);
    return run_outcome{r->answer};
  }
};

/// compute-optimal: the table fitted for n, run on the harness's model (policy and reward models).
struct compute_optimal_runner {
  result<run_outcome> operator()(synthetic_meter& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    auto table = table_for(model.model(), c.budget);
    if (!table) return table.error();
    compute_optimal_params params;
    params.table = *table;
    auto r = compute_optimal(params).run(model, model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r->answer};
  }
};

} // namespace adaptive

/// Registers zip-rc, odar, slow-best-of-5 and compute-optimal.
inline void register_adaptive(strategy_registry& r) {
  r.add("zip-rc", "ZIP-RC: prune, branch and stop by the introspective head's predicted utility (budget: most samples n)",
        adaptive::zip_rc_runner{});
  r.add("odar", "ODAR: fast probes, a fitted difficulty router, slow verify or slow best-of-n by free energy (budget: slow n)",
        adaptive::odar_runner{});
  r.add("slow-best-of-5", "the slow agent's 5 samples fused by free energy (ODAR's baseline; budget ignored)",
        adaptive::slow_best_of_5_runner{});
  r.add("compute-optimal", "per-difficulty-bin choice of method and n, fitted on a calibration suite (budget: n)",
        adaptive::compute_optimal_runner{});
}

} // namespace reckon::eval
