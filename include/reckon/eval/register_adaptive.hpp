// SPDX-License-Identifier: Apache-2.0
// reckon-eval registrations of the adaptive strategies: zip-rc, odar, slow-best-of-5, compute-optimal,
// revisions.
#pragma once

// Budget semantics (budget = n): zip-rc starts at most n samples; odar draws at most n samples in
// all, fast probes included (odar_shape_for: 1-3 probes, the rest slow); slow-best-of-5 always
// draws 5 (the budget is ignored: it is ODAR's fixed baseline); compute-optimal draws at most n
// samples with a table fitted for n (its methods: the sample-pool ones and revisions, so the
// sequential/parallel ratio is chosen per bin too); revisions makes n generations in all, P chains
// x L attempts with L the largest divisor of n with L^2 <= n (Snell et al.'s untuned default of
// about sqrt(n) x sqrt(n), the parallel side taking the remainder: n = 8 is 4 x 2), hierarchical
// ORM selection.
// Calibration: odar's router and thresholds (fit_odar_router) and compute-optimal's tables are
// fitted once per process (per suite name and budget) on a 200-problem suite of the same name
// generated from the run suite's seed + 1, with run seed 1 (evaluation runs use the harness's
// seeds), and cached (thread-safe).
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
#include <reckon/strategy/sequential_revisions.hpp>
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

/// The calibration suite for a run suite: drawn like it (same name and parameters, traps
/// included), seed + 1, 200 problems.
[[nodiscard]] inline std::shared_ptr<const testing::suite> calibration_suite(const testing::suite& s) {
  return std::make_shared<const testing::suite>(testing::make_kin_suite(s, s.seed + 1, 200));
}

/// What a cached fit depends on besides the suite's name and seed: the suite's and the model's
/// parameters (a lenient and a standard run of one suite must not share a fit).
[[nodiscard]] inline std::string fit_fingerprint(const testing::synthetic_model& m) {
  return testing::fingerprint(m.problems().params) + "/" + testing::fingerprint(m.params());
}

/// The synthetic model's parameters with another agent.
[[nodiscard]] inline testing::synthetic_params with_agent(testing::synthetic_params p, testing::agent_params a) {
  p.agent = a;
  return p;
}

/// ODAR's shape at budget n: at most n samples in all, fast probes included (3 probes from n = 6,
/// 2 from n = 4, else 1); the rest are the slow agent's. n = 1 leaves no slow sample: the probe
/// answers alone.
struct odar_shape {
  std::uint32_t probe = 1;  ///< fast probe samples
  std::uint32_t slow_n = 0; ///< most slow samples (n - probe)
};
[[nodiscard]] inline odar_shape odar_shape_for(std::uint32_t n) {
  const std::uint32_t probe = n >= 6 ? 3 : n >= 4 ? 2 : 1;
  return odar_shape{probe, n > probe ? n - probe : 0};
}

/// The odar router and thresholds fitted for a suite and budget n (fit_odar_router on the
/// calibration suite, default target; cached per suite name, seed, n and parameters). n must have slow samples.
[[nodiscard]] inline result<odar_fit> odar_fit_for(const testing::synthetic_model& m, std::uint32_t n) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::uint64_t, std::uint32_t, std::string>, odar_fit> cache;
  const auto key = std::make_tuple(m.problems().name, m.problems().seed, n, fit_fingerprint(m));
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const auto cal = calibration_suite(m.problems());
  testing::synthetic_model fast(cal, with_agent(m.params(), testing::fast_agent()));
  testing::synthetic_model slow(cal, with_agent(m.params(), testing::slow_agent()));
  std::vector<calibration_problem> problems;
  for (const auto& q : cal->problems) problems.push_back(calibration_problem{q.as_problem(), q.gold});
  const odar_shape shape = odar_shape_for(n);
  odar_fit_params fit;
  fit.base.probe = shape.probe;
  fit.base.slow_n = shape.slow_n;
  fit.seed = 1;
  auto fitted = fit_odar_router(fast, slow, problems, fit);
  if (!fitted) return fitted.error();
  cache.emplace(key, *fitted);
  return *fitted;
}

/// One odar run as reckon-eval runs it at budget n and run seed `seed`: fast and slow agents over
/// the model's suite and parameters, the fit for (suite, n), no other budget than n's shape.
[[nodiscard]] inline result<odar_result> run_odar(const testing::synthetic_model& base, const problem& p,
                                                  std::uint32_t n, std::uint64_t seed) {
  if (n == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
  testing::synthetic_model fast(base.shared_problems(), with_agent(base.params(), testing::fast_agent()));
  const random_stream stream(stream_key{seed, p.id, 0, 0});
  const odar_shape shape = odar_shape_for(n);
  if (shape.slow_n == 0) {
    // One sample in all: the fast probe answers (the route the router would need a slow sample to leave).
    odar_params params;
    params.probe = shape.probe;
    odar_result out;
    auto pr = odar(params).probe(fast, p, budget{}, stream, &out.fast_cost);
    if (!pr) return pr.error();
    out.answer = pr->answer;
    out.tally = pr->tally;
    out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    out.features = pr->features;
    out.fast_accepted = true;
    out.samples = static_cast<std::uint32_t>(pr->samples.size());
    out.cost = out.fast_cost;
    out.weighted_tokens = fast.cost_per_token() * static_cast<double>(out.fast_cost.total_tokens());
    return out;
  }
  auto fitted = odar_fit_for(base, n);
  if (!fitted) return fitted.error();
  testing::synthetic_model slow(base.shared_problems(), with_agent(base.params(), testing::slow_agent()));
  return odar(fitted->params).run(fast, slow, p, budget{}, stream);
}

/// slow-best-of-5 as reckon-eval runs it: the slow agent's 5 samples fused by free energy.
[[nodiscard]] inline result<strategy_result> run_slow_best_of_5(const testing::synthetic_model& base, const problem& p,
                                                                std::uint64_t seed) {
  testing::synthetic_model slow(base.shared_problems(), with_agent(base.params(), testing::slow_agent()));
  const free_energy_fusion fuse(free_energy_fusion_params{.n = 5});
  return fuse.run(slow, p, budget{}, random_stream(stream_key{seed, p.id, 0, 0}));
}

/// The compute-optimal table fitted for a suite and budget (cached).
[[nodiscard]] inline result<compute_optimal_table> table_for(const testing::synthetic_model& m, std::uint32_t n) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, std::uint64_t, std::uint32_t, std::string>, compute_optimal_table> cache;
  const auto key = std::make_tuple(m.problems().name, m.problems().seed, n, fit_fingerprint(m));
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
  fit.methods.push_back(co_method::revisions);
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

/// odar: the router over fast and slow synthetic agents built from the harness's model; at most n
/// samples in all (odar_shape_for).
struct odar_runner {
  result<run_outcome> operator()(synthetic_meter& model, const problem& p, const run_config& c) const {
    auto r = run_odar(model.model(), p, c.budget, c.seed);
    if (!r) return r.error();
    add_cost(c, r->cost);
    return run_outcome{r->answer};
  }
};

/// slow-best-of-5: always the slow agent, 5 samples fused by free energy.
struct slow_best_of_5_runner {
  result<run_outcome> operator()(synthetic_meter& model, const problem& p, const run_config& c) const {
    auto r = run_slow_best_of_5(model.model(), p, c.seed);
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

/// Revisions' split of n generations: L the largest divisor of n with L^2 <= n, P = n / L.
[[nodiscard]] inline sequential_revisions_params revisions_for(std::uint32_t n) {
  std::uint32_t length = 1;
  for (std::uint32_t l = 1; static_cast<std::uint64_t>(l) * l <= n; ++l)
    if (n % l == 0) length = l;
  sequential_revisions_params params;
  params.chains = n / length;
  params.length = length;
  return params;
}

/// revisions: sequential revisions at n generations (revisions_for), on a model that samples,
/// revises and is its own ORM.
struct revisions_runner {
  template <class M>
    requires sampling_model<M> && reviser<M> && outcome_reward_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    auto r = sequential_revisions(revisions_for(c.budget)).run(model, model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r->answer};
  }
};

} // namespace adaptive

/// Registers zip-rc, odar, slow-best-of-5, compute-optimal and revisions.
inline void register_adaptive(strategy_registry& r) {
  r.add("zip-rc", "ZIP-RC: prune, branch and stop by the introspective head's predicted utility (budget: most samples n)",
        adaptive::zip_rc_runner{});
  r.add("odar", "ODAR: fast probes, a fitted difficulty router and thresholds, slow verify or slow best-of-n by free energy (budget: n samples in all)",
        adaptive::odar_runner{});
  r.add("slow-best-of-5", "the slow agent's 5 samples fused by free energy (ODAR's baseline; budget ignored)",
        adaptive::slow_best_of_5_runner{});
  r.add("compute-optimal", "per-difficulty-bin choice of method, n and sequential/parallel ratio, fitted on a calibration suite (budget: n)",
        adaptive::compute_optimal_runner{});
  r.add("revisions", "sequential revisions: P chains x L revisions, L ~ sqrt(n), hierarchical ORM-weighted selection (budget: n generations)",
        adaptive::revisions_runner{});
}

} // namespace reckon::eval
