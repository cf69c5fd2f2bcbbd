// SPDX-License-Identifier: Apache-2.0
// reckon-eval registrations of the stepping and PRM-guided search strategies: particle-filter, prism, beam-search, dvts, rebase, ets, particle-gibbs, short-m@k, scale.
#pragma once

#include <reckon/budget/budget.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/eval/registry.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/beam_search.hpp>
#include <reckon/strategy/ets.hpp>
#include <reckon/strategy/particle_filter.hpp>
#include <reckon/strategy/particle_gibbs.hpp>
#include <reckon/strategy/prism.hpp>
#include <reckon/strategy/short_m_at_k.hpp>
#include <reckon/strategy/rebase.hpp>
#include <reckon/strategy/scale.hpp>

#include <algorithm>
#include <cstdint>

namespace reckon::eval {

namespace builtin {

/// Runs a search strategy built from the budget (n) on a model that is its own PRM; the run's
/// stream is (seed, problem). The answer is the strategy's.
template <class Make>
struct search_runner {
  Make make; ///< `make(n)` -> the strategy

  template <class M>
    requires stepping_model<M> && process_reward_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    const auto strategy = make(c.budget);
    auto r = strategy.run(model, model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r.value().answer};
  }
};
template <class Make>
search_runner(Make) -> search_runner<Make>;

/// PRISM from the budget (n) on a model that samples, revises and is its own PRM.
struct prism_runner {
  template <class M>
    requires sampling_model<M> && reviser<M> && process_reward_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    prism_params params;
    params.n = c.budget;
    params.sampling.max_tokens = 1u << 20;
    const prism strategy(params);
    auto r = strategy.run(model, model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r.value().answer};
  }
};

/// Beam search / DVTS parameters for a budget of n beams: width 4 (n when n < 4).
[[nodiscard]] inline beam_search_params beams_for(std::uint32_t n) {
  beam_search_params params;
  params.n = n;
  params.width = std::min<std::uint32_t>(4, n);
  return params;
}

/// Particle Gibbs for a budget of n particles in all (its_hub's budget): 2 sweeps of n / 2
/// particles with 1 reference from n = 4 on, the particle filter of n below.
[[nodiscard]] inline particle_gibbs_params gibbs_for(std::uint32_t n) {
  particle_gibbs_params params;
  params.iterations = n >= 4 ? 2 : 1;
  params.n = n / params.iterations;
  params.references = 1;
  return params;
}

/// ETS of width n on a model that is its own PRM and embedder: lambda_s from the yaml of the
/// nearest width on a log scale (1.5 for 16, 1.4 for 64, 1.45 for 256), lambda_c 1, the rest REBASE's.
struct ets_runner {
  template <class M>
    requires stepping_model<M> && process_reward_model<M> && embedding_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    ets_params params;
    params.search.width = c.budget;
    params.coverage_weight = c.budget >= 128 ? 1.45 : c.budget >= 32 ? 1.4 : 1.5; // geometric midpoints
    auto r = ets(params).run(model, model, model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r.value().answer};
  }
};

/// short-m@k with k = the budget (n) chains on a stepping model; m is capped at k.
struct short_runner {
  std::uint32_t m = 1; ///< finished chains that stop the rest and vote

  template <class M>
    requires stepping_model<M>
  result<run_outcome> operator()(M& model, const problem& p, const run_config& c) const {
    if (c.budget == 0) return fail(errc::invalid_argument, "budget (n) must be > 0");
    const short_m_at_k strategy(short_m_at_k_params{.k = c.budget, .m = std::min(m, c.budget)});
    auto r = strategy.run(model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
    if (!r) return r.error();
    return run_outcome{r.value().answer};
  }
};

} // namespace builtin

/// Registers `particle-filter`, `prism`, `beam-search`, `dvts`, `rebase`, `ets`, `particle-gibbs`, `short-1`, `short-3`
/// and `scale` (budget = n particles, population,
/// beams or width). Synthetic path only: they need a stepping model (PRISM: a reviser), which recorded
/// samples are not.
inline void register_search_strategies(strategy_registry& r) {
  r.add("particle-filter", "particle filtering: n particles, PRM-weighted multinomial resampling every step, the heaviest particle's answer (budget: n)",
        builtin::search_runner{[](std::uint32_t n) {
          particle_filter_params params;
          params.n = n;
          return particle_filter(params);
        }});
  r.add("prism", "PRISM: n sampled solutions, 3 rounds of clone-capped resampling and PRM-guided revision (budget: n)",
        builtin::prism_runner{});
  r.add("beam-search", "beam search: n beams of width 4 scored by the PRM, weighted best-of-n at the end (budget: n)",
        builtin::search_runner{[](std::uint32_t n) { return beam_search(builtin::beams_for(n)); }});
  r.add("dvts", "diverse verifier tree search: n/4 greedy subtrees of width 4, weighted best-of-n (budget: n)",
        builtin::search_runner{[](std::uint32_t n) { return dvts(builtin::beams_for(n)); }});
  r.add("rebase", "REBASE: width n, children allocated by a softmax (T 0.2) of last-step PRM scores, weighted majority (budget: n)",
        builtin::search_runner{[](std::uint32_t n) {
          rebase_params params;
          params.width = n;
          return rebase(params);
        }});
  r.add("ets", "ETS: REBASE of width n whose frontier is first pruned by ETS's program (KV cost lambda_c 1, semantic coverage lambda_s 1.4-1.5) (budget: n)",
        builtin::ets_runner{});
  r.add("particle-gibbs", "Particle Gibbs: 2 sweeps of n/2 particles, 1 reference particle cut back and resampled, the heaviest particle's answer (budget: n in all)",
        builtin::search_runner{[](std::uint32_t n) { return particle_gibbs(builtin::gibbs_for(n)); }});
  r.add("short-1", "short-1@k: k = n chains stepped in parallel, all stopped when the first finishes; its answer (budget: n)",
        builtin::short_runner{1});
  r.add("short-3", "short-3@k: k = n chains stepped in parallel, the rest stopped once 3 finish; majority, ties to the shortest (budget: n)",
        builtin::short_runner{3});
  r.add("scale", "SCALE: one chain, each step System 2 when its up-front self-rating is above 0.5 (the last always), else System 1 (budget ignored)",
        []<class M>(M& model, const problem& p, const run_config& c) -> result<run_outcome>
          requires self_rating_model<M>
        {
          auto out = scale().run(model, p, budget{}, random_stream(stream_key{c.seed, p.id, 0, 0}));
          if (!out) return out.error();
          return run_outcome{out.value().answer};
        });
}

} // namespace reckon::eval
