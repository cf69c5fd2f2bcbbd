// SPDX-License-Identifier: Apache-2.0
// REBASE: reward-balanced tree search over reasoning steps, children allocated by a softmax of PRM scores.
#pragma once

// Algorithm (Wu et al., "Inference Scaling Laws: An Empirical Analysis of Compute-Optimal
// Inference for Problem-Solving with Language Models", ICLR 2025, section 3.1.2, Eq. 1; reference
// code: thu-wyz/inference_scaling, rebase.py and hype-parameters/rebase.yaml): a tree grows one
// depth at a time under a width B that starts at N (`width`). The root (the prompt) gets all N
// children: one begin, N - 1 forks, one batched extend of one step each, one PRM call scoring every
// child by the PRM's value at its LAST step, R(r_k) = R(x r_1..r_k). At each depth every completed
// node (its step finished the solution, or its path's cumulative generated tokens reached
// `max_tokens`) consumes one unit of width, B <- B - C_d; the search ends when B = 0 or no
// candidate is left. Otherwise the remaining candidates share B children by the sequential-ceil
// softmax rule of the code's select_softmax (rebase_allocate): sorted by score, descending,
// n_j = ceil(W_j exp(R_j / T_b) / S_j), W_{j+1} = W_j - n_j, S_j the sum of exp(R / T_b) over the
// candidates not yet served; the counts sum to B exactly, high scores get the rounding up and the
// low tail may get 0. A node with n_j = 0 is released at once; one with n_j >= 1 is forked n_j - 1
// times and keeps its own sequence for the last child (the prefix is shared, never re-prefilled).
// Then one batched extend of every child and one PRM call, and the next depth. The depth is capped
// at `max_depth` (the code's hard-coded 25). The answer comes from the completed solutions (at most
// N): by default the weighted majority vote, each solution weighed by its last-step score
// (scripts/evaluate.sh: math_evaluate.py --weighted True --weight_agg last; the paper's main
// results use it); Selection select_naive takes the highest-weighted solution's answer
// (--agg_func last: best-of-n) and select_majority the plain majority vote (--agg_func
// majority_vote). `reduction` turns a solution's step scores into its weight (--weight_agg: last,
// min, prod, mean). The code's softmax_with_truncate variant is `truncate_ratio` < 1: only the top
// ceil(ratio x candidates) share B.
// Cost: per depth one extend over the frontier (B_d <= N sequences, B_d non-increasing) and one
// PRM call over its children; generated steps sum_d B_d <= N x max_depth; the prompt is prefilled
// once; peak live sequences <= N (the allocation never exceeds B and zero-allocated nodes are
// released before the forks).
// Deviations: `max_tokens` counts a path's tokens cumulatively, as the paper states and the ETS
// fork of the code fixes (thu-wyz's TreeNode adds only the last step's tokens, so its cap never
// fires). The balance temperature T_b defaults to the code's 0.2 (rebase.yaml; the paper's App. C
// says 0.1). The allocation is the code's sequential ceil, not Eq. 1's Round (whose counts need
// not sum to B); it is computed in double with the top score subtracted before exp and each S_j
// summed afresh from the tail (the code subtracts from a float32 running sum), and a quotient
// within 1e-9 of an integer counts as that integer, so tied scores split B evenly instead of by
// rounding noise. Ties are ordered as the code's stable ascending sort reversed leaves them: among
// equal scores the later frontier node comes first (and gets the rounding up). A node is complete
// when its step says so (the model's end of solution), not when its text holds "The answer is".
// Solutions that reach `max_tokens` unfinished consume width but do not vote (the code returns
// only leaves as answers), nor do paths left unfinished at the depth cap or cut by the budget.
// A PRM answer of the wrong shape, or a score that is NaN or outside [0, 1], is an engine_failure
// (the code silently drops a child without a score). A fork refused for capacity leaves fewer
// children (stated in the trace); B is unchanged, so a later depth may regrow the frontier to B.
// Near a token budget a step's token cap is lowered so that the run never passes the budget, and
// the lazily prefilled prompt is reserved first (detail::prompt_reserve); a step whose PRM call
// the budget forbids stays unscored, and the paths it finished vote with the weight of their last
// scored step (their parent's). Naive selection takes the heaviest solution that has an answer
// (the code's argmax would return an answerless text); ties in every vote follow vote_params (the
// code keeps the first answer class to reach the maximum).

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/best_of_n.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of REBASE.
struct rebase_params {
  std::uint32_t width = 16;          ///< N (> 0): the initial width B, the root's children and the most completed solutions (rebase.yaml: 16)
  double balance_temperature = 0.2;  ///< T_b (finite, > 0) of the allocation softmax exp(R / T_b); the code's 0.2 (the paper says 0.1)
  std::uint32_t max_depth = 25;      ///< the most steps of one path (> 0); the code's hard-coded 25
  std::uint32_t max_tokens = 1024;   ///< a path whose cumulative generated tokens reach this (> 0) is complete without an answer and consumes width (rebase.yaml: 1024)
  double truncate_ratio = 1.0;       ///< in (0, 1]: only the top ceil(ratio x candidates) share the width (the code's softmax_with_truncate; 1: its plain softmax)
  step_reduction reduction = step_reduction::last; ///< a solution's step scores to its vote weight (math_evaluate.py --weight_agg; the script's "last")
  step_params stepping{.max_step_tokens = 256}; ///< each extend's parameters (rebase.yaml: 256 tokens a step, temperature 1; max_step_tokens is lowered near a token budget)
  vote_params vote{};                ///< tie-break of the final vote
};

/// Pick the answer that the most completed solutions give, each counting 1 (math_evaluate.py's
/// unweighted majority_vote).
struct select_majority {};

/// REBASE's allocation of `width` children over nodes with PRM scores `rewards` (the code's
/// select_softmax, or select_softmax_with_truncation with `truncate_ratio` < 1): the counts, in
/// the order of `rewards`, sum to `width` exactly (when rewards is non-empty). See the header
/// comment for the order of ties and the treatment of rounding.
/// @returns the counts, or invalid_argument for a non-finite reward, a temperature that is not
///          finite and > 0, or a truncate_ratio outside (0, 1].
[[nodiscard]] inline result<std::vector<std::uint32_t>> rebase_allocate(std::span<const double> rewards, std::uint32_t width,
                                                                         double temperature, double truncate_ratio = 1.0) {
  if (!(temperature > 0.0) || !std::isfinite(temperature))
    return fail(errc::invalid_argument, "rebase_allocate: temperature must be finite and > 0");
  if (!(truncate_ratio > 0.0 && truncate_ratio <= 1.0))
    return fail(errc::invalid_argument, "rebase_allocate: truncate_ratio must be in (0, 1]");
  for (const double r : rewards)
    if (!std::isfinite(r)) return fail(errc::invalid_argument, fmt::format("rebase_allocate: reward {} is not finite", r));
  std::vector<std::uint32_t> counts(rewards.size(), 0);
  if (rewards.empty()) return counts;
  // Python's sorted() is stable ascending; the code reverses it, so equal scores come later-first.
  std::vector<std::size_t> order(rewards.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rewards[a] != rewards[b] ? rewards[a] > rewards[b] : a > b;
  });
  const auto keep = static_cast<std::size_t>(std::ceil(static_cast<double>(order.size()) * truncate_ratio));
  order.resize(std::clamp<std::size_t>(keep, 1, order.size()));
  const double top = rewards[order.front()];
  std::vector<double> e(order.size()), tail(order.size() + 1, 0.0);
  for (std::size_t j = 0; j < order.size(); ++j) e[j] = std::exp((rewards[order[j]] - top) / temperature);
  for (std::size_t j = order.size(); j-- > 0;) tail[j] = tail[j + 1] + e[j];
  std::uint32_t left = width;
  for (std::size_t j = 0; j < order.size() && left > 0; ++j) {
    // e[j] <= tail[j], so the quotient is at most `left`; the last node served gets all of it.
    const double x = j + 1 == order.size() ? static_cast<double>(left) : static_cast<double>(left) * e[j] / tail[j];
    const double n = std::clamp(std::ceil(x - 1e-9), 0.0, static_cast<double>(left));
    counts[order[j]] = static_cast<std::uint32_t>(n);
    left -= counts[order[j]];
  }
  return counts;
}

namespace detail {

/// Validates REBASE's parameters.
[[nodiscard]] inline result<void> check_rebase_params(const rebase_params& p) {
  if (p.width == 0) return fail(errc::invalid_argument, "rebase: width must be > 0");
  if (!(p.balance_temperature > 0.0) || !std::isfinite(p.balance_temperature))
    return fail(errc::invalid_argument, "rebase: balance_temperature must be finite and > 0");
  if (p.max_depth == 0) return fail(errc::invalid_argument, "rebase: max_depth must be > 0");
  if (p.max_tokens == 0) return fail(errc::invalid_argument, "rebase: max_tokens must be > 0");
  if (!(p.truncate_ratio > 0.0 && p.truncate_ratio <= 1.0))
    return fail(errc::invalid_argument, "rebase: truncate_ratio must be in (0, 1]");
  if (to_string(p.reduction) == "unknown") return fail(errc::invalid_argument, "rebase: unknown reduction");
  if (p.vote.tie_break != tie_break::first_seen && p.vote.tie_break != tie_break::lexicographic)
    return fail(errc::invalid_argument, "rebase: unknown vote.tie_break");
  return validate(p.stepping);
}

/// detail::search_run's hooks of REBASE and ETS (which differ only in `allocate`). A path's
/// `score` is its last-step score (what the allocation reads); its `log_weight` holds its step
/// scores reduced by params.reduction (its vote weight).
template <class M, class Selection, class AnswerKey, class Allocate>
struct rebase_hooks {
  using path = typename detail::path_set<M>::path;
  const rebase_params& params;
  const AnswerKey& key;
  Allocate& allocate;                // (ctx, candidates, rewards, width, step) -> result<counts>: REBASE's rule, or ETS's
  std::uint32_t width_left;          // B
  std::vector<path> completed{};     // the completed solutions, in the order they completed
  std::size_t token_capped = 0;      // paths that reached max_tokens unfinished
  std::size_t capacity_dropped = 0;  // children the engine had no capacity for
  std::vector<solution_view> views{};
  std::vector<std::size_t> candidates{}, ancestors{};
  std::vector<double> rewards{};

  template <class Ctx>
  void seeds(Ctx&, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids) const {
    ids.assign(live.begin(), live.end());
  }
  template <class Ctx>
  result<void> score(Ctx& c, std::span<const std::size_t> live, std::uint32_t, bool) {
    auto& paths = c.set.paths;
    views.clear();
    for (const std::size_t i : live) views.push_back(paths[i].view());
    auto scores = detail::score_views(c.prm, c.p, views);
    if (!scores) return scores.error();
    for (std::size_t j = 0; j < live.size(); ++j) {
      const std::vector<double>& s = scores.value()[j];
      paths[live[j]].score = s.back();
      paths[live[j]].log_weight = reduce_steps(params.reduction, std::span<const double>(s));
    }
    return {};
  }
  template <class Ctx>
  result<bool> select(Ctx& c, std::uint32_t step, bool last) {
    auto& paths = c.set.paths;
    candidates.clear();
    for (std::size_t i = 0; i < paths.size(); ++i) {
      path& q = paths[i];
      if (q.done) {
        completed.push_back(q);
      } else if (q.tokens >= params.max_tokens) {
        ++token_capped;
      } else {
        candidates.push_back(i);
        continue;
      }
      width_left -= std::min<std::uint32_t>(width_left, 1);
    }
    if (width_left == 0 || candidates.empty()) {
      c.set.release_all();
      paths.clear();
      return true;
    }
    // At the depth cap the unfinished frontier stays as it is (it does not vote; finish reports it).
    if (last) {
      c.set.keep_only(candidates);
      return false;
    }
    rewards.clear();
    for (const std::size_t i : candidates) rewards.push_back(paths[i].score);
    auto counts = allocate(c, std::span<const std::size_t>(candidates), std::span<const double>(rewards), width_left, step);
    if (!counts) return counts.error();
    ancestors.clear();
    std::size_t expanded = 0;
    for (std::size_t j = 0; j < candidates.size(); ++j) {
      ancestors.insert(ancestors.end(), counts.value()[j], candidates[j]);
      expanded += counts.value()[j] != 0 ? 1 : 0;
    }
    auto dropped = c.set.reassign(ancestors);
    if (!dropped) return dropped.error();
    c.out.trace.push_back(trace_event{step, fmt::format("width {}: {} children over {} of {} candidates", width_left,
                                                        ancestors.size(), expanded, candidates.size())});
    if (dropped.value() != 0) {
      capacity_dropped += dropped.value();
      c.out.trace.push_back(trace_event{step, fmt::format("fork: no capacity; {} children dropped, {} paths", dropped.value(),
                                                          paths.size())});
    }
    return false;
  }
  template <class Ctx>
  void finish(Ctx& c, std::uint32_t steps, bool capped) {
    auto& paths = c.set.paths;
    // Paths still held here are unfinished (depth cap, budget), or were finished by a step the
    // budget left unscored: those vote with the weight they inherited.
    std::size_t unscored = 0, open = 0;
    for (auto& q : paths) {
      if (q.done) {
        completed.push_back(q);
        ++unscored;
      } else {
        ++open;
      }
    }
    if (capped)
      c.out.trace.push_back(trace_event{steps, fmt::format("depth cap {} reached: {} paths unfinished (they do not vote)",
                                                           params.max_depth, open)});
    std::vector<std::optional<std::string>> answers;
    std::vector<double> weights;
    answers.reserve(completed.size());
    for (const auto& q : completed) {
      answers.push_back(key(q.as_completion()));
      weights.push_back(std::is_same_v<Selection, select_majority> ? 1.0 : q.log_weight);
    }
    detail::choose_answer(answers, weights, std::is_same_v<Selection, select_naive>, params.vote, c.out);
    c.out.trace.push_back(trace_event{
        steps, fmt::format("{} depths, {} completed solutions ({} unscored), {} at the token cap, {} unfinished{}", steps,
                           completed.size(), unscored, token_capped, open,
                           capacity_dropped ? fmt::format(", {} children dropped for capacity", capacity_dropped) : "")});
  }
};

} // namespace detail

/// REBASE (Wu et al., ICLR 2025) with compile-time choices of selection and answer key.
/// @tparam Selection select_weighted (weighted majority vote, the default), select_naive (the
///                   heaviest solution's answer) or select_majority (plain majority vote)
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class AnswerKey>
class basic_rebase {
  static_assert(std::is_same_v<Selection, select_weighted> || std::is_same_v<Selection, select_naive> ||
                    std::is_same_v<Selection, select_majority>,
                "basic_rebase: Selection must be select_weighted, select_naive or select_majority");

public:
  using params_type = rebase_params;

  basic_rebase() = default;
  explicit basic_rebase(rebase_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem: the tree lives in `model`, steps are scored by `reward`.
  /// @returns the result (answer nullopt when no solution completed with an answer), or:
  ///          invalid_argument (bad params), budget_exhausted (not one step affordable),
  ///          engine_failure (a PRM returning the wrong number of scores, or a score that is NaN
  ///          or outside [0, 1]; an extend returning the wrong number of steps; a model or key
  ///          that threw), or either model's error. Every engine sequence is released on every
  ///          path out; no exception escapes.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "rebase", [&] { return detail::check_rebase_params(params_); },
        [&]() -> result<strategy_result> {
          auto allocate = [this](auto&, std::span<const std::size_t>, std::span<const double> rewards, std::uint32_t width,
                                 std::uint32_t) {
            return rebase_allocate(rewards, width, params_.balance_temperature, params_.truncate_ratio);
          };
          detail::rebase_hooks<M, Selection, AnswerKey, decltype(allocate)> h{params_, key_, allocate, params_.width};
          const detail::search_shape shape{"rebase", params_.width, params_.max_depth, 0, params_.stepping};
          return detail::search_run(model, reward, p, limit, stream, shape, h);
        });
  }

  [[nodiscard]] const rebase_params& params() const noexcept { return params_; }

private:
  rebase_params params_{};
  AnswerKey key_{};
};

/// REBASE as the paper evaluates it: weighted majority vote by the last-step score.
using rebase = basic_rebase<select_weighted, canonical_answer_key>;

} // namespace reckon
