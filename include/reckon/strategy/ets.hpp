// SPDX-License-Identifier: Apache-2.0
// ETS: REBASE whose frontier is first pruned by an integer program that trades reward for KV-cache size and coverage.
#pragma once

// Algorithm (Hooper et al., "ETS: Efficient Tree Search for Inference-Time Scaling", arXiv
// 2502.13575, 2025; reference code: SqueezeAILab/ETS, rebase.py select_softmax_costmodel, lines
// 373-569, and hype-parameters/ets_{16,64,256}_math500.yaml; ../shared/papers/ETS.md): REBASE's
// tree search (strategy/rebase.hpp: width B, completed nodes consume width, weighted majority vote
// by the last-step score) with one change, the selection at each depth. Over the frontier of N
// candidates (PRM scores r_i):
// 1. O_i = n_i / B, where n_i is REBASE's sequential-ceil allocation of the remaining width B by
//    exp(r_i / T_b) (rebase_allocate): each node's share of the width REBASE would give it;
// 2. branch nodes: every ancestor of a frontier node in the search tree, the prompt included (M
//    of them); node i activates its ancestors;
// 3. semantic clusters, when lambda_s > 0, N > 1 and the newest steps are not all the same text:
//    the embedding model embeds each candidate's NEWEST step only, and average-linkage clustering
//    at cosine distance `cluster_distance` (the code's scipy linkage('average', 'cosine') +
//    fcluster(0.05, 'distance'); aggregate/cluster.hpp) gives K clusters;
// 4. the program (optimize/ets_program.hpp) keeps the subset S of the frontier that maximises
//    sum_{i in S} O_i - lambda_c C (|S| + |ancestors(S)|) + (lambda_s / K) |clusters(S)|, C =
//    1 / (M + N), S non-empty: pay a node's REBASE share, less the KV it and its not yet active
//    ancestors would hold, plus a bonus for each semantic cluster it represents first; solved by
//    `Solver` (exact by default);
// 5. the whole remaining width B is re-allocated over the kept nodes by the same softmax rule;
//    pruned nodes get 0 children and are released.
// Pruning concentrates the width on fewer subtrees, so more of the tree is shared prefix: the
// paper's claim is about 1.8x less KV cache on average than REBASE at the same accuracy (1.4x
// throughput). The ledger measures exactly that: peak_shared_kv_tokens and
// mean_shared_kv_tokens() (metered's prefix tree: every shared prefix held once), for REBASE and
// ETS alike.
// Defaults: the width-16 yaml: lambda_c 1.0, lambda_s 1.5 (width 64: 1.4, 256: 1.45), T_b 0.2,
// cluster cut 0.05, 256 tokens a step, 1024 a path, depth 25.
// Cost: REBASE's (one extend of the frontier and one PRM call per depth) plus, per depth with
// clustering, one embedding call over the N newest steps and one program solve; no extra tokens
// are generated (pruning does not change how many children are made, only whose).
// Deviations: everything REBASE's header states (cumulative token cap, completion by the model's
// end of solution, PRM answers checked, capacity, budget). Embedding calls are counted in the
// ledger (embedding_calls, embedding_tokens, and their wall time) but no budget field limits them
// (the budget has none for embeddings; their cost is a few hundred tokens read per depth). The
// reference's sign guard is kept: with lambda_c = 0 every kept node and active branch earns
// 1e-4 C instead of paying lambda_c C (rebase.py:404-407), so every node is kept and ETS is
// REBASE. The cost is uniform per node, as in the code (its comment: "later set it based on
// num_tokens"). The code's CBC returns some optimum; reckon's exact solver proves the optimum to
// within 1e-9 and among equal objectives keeps the fewest nodes, then the lowest indices
// (optimize/ets_program.hpp), so a run is reproducible; `Solver` = cbc_ets_solver
// (adapters/cbc.hpp) solves the same program with CBC. An embedding answer of the wrong shape or
// with a non-finite value is an engine_failure. When the solver stops at its node limit without
// proving optimality, the best selection found is used and the trace says so.

#include <reckon/aggregate/cluster.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/optimize/ets_program.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/rebase.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of ETS.
struct ets_params {
  rebase_params search{};         ///< the REBASE search it prunes (width, T_b, depth, token cap, stepping, vote)
  double cost_weight = 1.0;       ///< lambda_c (finite, >= 0): weight of the KV cost of kept nodes and their ancestors (yaml: 1.0)
  double coverage_weight = 1.5;   ///< lambda_s (finite, >= 0): weight of semantic coverage; 0 turns clustering off (width-16 yaml: 1.5)
  double cluster_distance = 0.05; ///< the average-linkage cut, in cosine distance (finite, in [0, 2]; the code's 0.05)
};

namespace detail {

/// Validates ETS's parameters.
[[nodiscard]] inline result<void> check_ets_params(const ets_params& p) {
  if (auto ok = check_rebase_params(p.search); !ok) {
    error e = ok.error();
    e.message.replace(0, e.message.find(':'), "ets: search");
    return e;
  }
  if (!(p.cost_weight >= 0.0) || !std::isfinite(p.cost_weight))
    return fail(errc::invalid_argument, "ets: cost_weight must be finite and >= 0");
  if (!(p.coverage_weight >= 0.0) || !std::isfinite(p.coverage_weight))
    return fail(errc::invalid_argument, "ets: coverage_weight must be finite and >= 0");
  if (!(p.cluster_distance >= 0.0 && p.cluster_distance <= 2.0))
    return fail(errc::invalid_argument, "ets: cluster_distance must be in [0, 2] (a cosine distance)");
  return {};
}

} // namespace detail

/// ETS (Hooper et al. 2025) with compile-time choices of selection, answer key and program solver.
/// @tparam Selection select_weighted (the default), select_naive or select_majority, as REBASE's
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
/// @tparam Solver    `result<ets_selection>(const ets_program&) const`: exact_ets_solver (reckon's
///                   own), or an opt-in MILP solver (adapters/cbc.hpp)
template <class Selection, class AnswerKey, class Solver = exact_ets_solver>
class basic_ets {
  static_assert(std::is_same_v<Selection, select_weighted> || std::is_same_v<Selection, select_naive> ||
                    std::is_same_v<Selection, select_majority>,
                "basic_ets: Selection must be select_weighted, select_naive or select_majority");

public:
  using params_type = ets_params;

  basic_ets() = default;
  explicit basic_ets(ets_params params, AnswerKey key = {}, Solver solver = {})
      : params_(std::move(params)), key_(std::move(key)), solver_(std::move(solver)) {}

  /// Runs on one problem: the tree lives in `model`, steps are scored by `reward`, the newest
  /// steps embedded by `embedder` (it may be the same object as `model`).
  /// @returns the result (answer nullopt when no solution completed with an answer; cost includes
  ///          the embedding calls), or: invalid_argument (bad params), budget_exhausted (not one
  ///          step affordable), engine_failure (a PRM or embedding answer of the wrong shape, a
  ///          score outside [0, 1], a model, key or solver that threw), or any model's or the
  ///          solver's error. Every engine sequence is released on every path out; no exception
  ///          escapes.
  template <stepping_model M, process_reward_model R, embedding_model E>
  result<strategy_result> run(M& model, R& reward, E& embedder, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "ets", [&] { return detail::check_ets_params(params_); },
        [&]() -> result<strategy_result> {
          metered<E&> embed(embedder);
          std::size_t pruned = 0, depths = 0, unproven = 0;
          auto allocate = [&](auto& c, std::span<const std::size_t> candidates, std::span<const double> rewards,
                              std::uint32_t width, std::uint32_t step) -> result<std::vector<std::uint32_t>> {
            auto counts = prune(c, embed, candidates, rewards, width, step, unproven);
            if (counts) {
              ++depths;
              for (const std::uint32_t n : counts.value()) pruned += n == 0 ? 1 : 0;
            }
            return counts;
          };
          const rebase_params& sp = params_.search;
          detail::rebase_hooks<M, Selection, AnswerKey, decltype(allocate)> h{sp, key_, allocate, sp.width};
          const detail::search_shape shape{"ets", sp.width, sp.max_depth, 0, sp.stepping};
          auto out = detail::search_run(model, reward, p, limit, stream, shape, h);
          if (!out) return out;
          const ledger& e = embed.ledger();
          out->cost.embedding_calls += e.embedding_calls;
          out->cost.embedding_tokens += e.embedding_tokens;
          out->cost.wall_seconds += e.wall_seconds;
          out->trace.push_back(trace_event{0, fmt::format("ets: {} frontier nodes pruned over {} depths{}", pruned, depths,
                                                          unproven ? fmt::format(" ({} selections not proven optimal)", unproven)
                                                                   : std::string{})});
          return out;
        });
  }

  [[nodiscard]] const ets_params& params() const noexcept { return params_; }

private:
  // Steps 1-5 of the header: the counts of children per candidate (0: pruned).
  template <class Ctx, class E>
  result<std::vector<std::uint32_t>> prune(Ctx& c, metered<E&>& embed, std::span<const std::size_t> candidates,
                                           std::span<const double> rewards, std::uint32_t width, std::uint32_t step,
                                           std::size_t& unproven) const {
    const rebase_params& sp = params_.search;
    auto shares = rebase_allocate(rewards, width, sp.balance_temperature, sp.truncate_ratio);
    if (!shares || candidates.size() < 2) return shares;
    const auto& paths = c.set.paths;
    const std::size_t n = candidates.size();

    ets_program prog;
    prog.cost_weight = params_.cost_weight;
    prog.coverage_weight = params_.coverage_weight;
    prog.outcome.resize(n);
    prog.branches.resize(n);
    std::vector<std::uint32_t> branch_of; // tree node -> branch index + 1 (0: not a branch yet)
    for (std::size_t i = 0; i < n; ++i) {
      prog.outcome[i] = static_cast<double>(shares.value()[i]) / static_cast<double>(width);
      std::uint32_t node = paths[candidates[i]].node;
      do {
        node = c.set.parent_of(node);
        if (branch_of.size() <= node) branch_of.resize(node + 1, 0);
        if (branch_of[node] == 0) branch_of[node] = ++prog.branch_count;
        prog.branches[i].push_back(branch_of[node] - 1);
      } while (node != 0);
    }

    if (params_.coverage_weight > 0.0) {
      std::vector<std::string> newest(n);
      bool distinct = false;
      for (std::size_t i = 0; i < n; ++i) {
        const auto& steps = paths[candidates[i]].steps;
        newest[i] = steps.empty() ? std::string{} : steps.back();
        distinct = distinct || newest[i] != newest[0];
      }
      if (distinct) {
        auto vectors = embed.embed(std::span<const std::string>(newest));
        if (!vectors) return vectors.error();
        if (vectors->size() != n)
          return fail(errc::engine_failure,
                      fmt::format("embedding model returned {} vectors for {} steps", vectors->size(), n));
        auto labels = average_linkage_clusters(vectors.value(), params_.cluster_distance);
        if (!labels) {
          error e = labels.error();
          if (e.code == errc::invalid_argument) e.code = errc::engine_failure; // the vectors were bad, not the caller
          e.message = "embedding model: " + e.message;
          return e;
        }
        prog.cluster = std::move(labels.value());
        for (const std::uint32_t k : prog.cluster) prog.cluster_count = std::max(prog.cluster_count, k + 1);
      }
    }

    auto chosen = solver_(prog);
    if (!chosen) return chosen.error();
    const ets_selection& sel = chosen.value();
    if (sel.keep.size() != n)
      return fail(errc::engine_failure, fmt::format("ets solver returned {} decisions for {} nodes", sel.keep.size(), n));
    if (!sel.proven_optimal) ++unproven;
    std::vector<double> kept_rewards;
    std::vector<std::size_t> kept;
    for (std::size_t i = 0; i < n; ++i)
      if (sel.keep[i] != 0) {
        kept.push_back(i);
        kept_rewards.push_back(rewards[i]);
      }
    if (kept.empty()) return fail(errc::engine_failure, "ets solver kept no node (the program requires one)");
    auto again = rebase_allocate(kept_rewards, width, sp.balance_temperature, sp.truncate_ratio);
    if (!again) return again.error();
    std::vector<std::uint32_t> counts(n, 0);
    for (std::size_t j = 0; j < kept.size(); ++j) counts[kept[j]] = again.value()[j];
    c.out.trace.push_back(trace_event{step, fmt::format("ets: kept {} of {} ({} branch nodes, {} clusters, objective {:.4f})",
                                                        kept.size(), n, prog.branch_count, prog.cluster_count,
                                                        sel.objective)});
    return counts;
  }

  ets_params params_{};
  AnswerKey key_{};
  Solver solver_{};
};

/// ETS as its paper evaluates it: REBASE's weighted majority vote, reckon's exact program solver.
using ets = basic_ets<select_weighted, canonical_answer_key>;

} // namespace reckon
