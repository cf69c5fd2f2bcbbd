// SPDX-License-Identifier: Apache-2.0
// PRM-guided beam search and diverse verifier tree search (DVTS) over reasoning steps, expanding by forks.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally...", section 5; the
// search-and-learn recipe, src/sal/search/beam_search.py and diverse_verifier_tree_search.py):
// beam search keeps n beams of width M: each step extends every active beam in ONE batched extend
// and scores them in ONE PRM call; finished beams are set aside in the order they finish; the top
// n/M unfinished beams by score survive and are refilled to n by forking (about M copies each).
// DVTS splits the n beams into n/M independent subtrees, each a greedy beam: per step its head is
// forked into M children, and the best-scoring child becomes the head; a subtree ends when its
// best child is finished, and all M children of its last expansion are its candidates (n in all).
// A candidate's score is its step scores reduced by `reduction` (search-and-learn's agg_strategy:
// last by default, or min, prod, mean). Optional lookahead k: each candidate is scored after a
// greedy rollout of k more steps (on a fork, released afterwards), which costs n(k + 1) steps per
// step; the step cap's last step takes none (search-and-learn sets lookahead 0 there). At the
// step cap the unfinished beams (subtrees: their last children) are kept as candidates as they
// are, or, with finish_steps > 0, first extended by up to that many unscored steps so that they
// can answer (search-and-learn's last iteration generates to the end). The answer: best-of-n
// (weighted by default) over the first n finished beams, then the capped ones (beam search), or
// over the n candidates (DVTS), each weighed by its score. Cost per step: one extend and one PRM
// call (plus k extends with lookahead); the prompt is prefilled once (one begin, forks after).
// Deviations: beam search stops once n beams have finished (the recipe runs every iteration and
// keeps the first n finished, sort_completed false, the same beams); beam search's lookahead
// scores the rollout's end, as the paper's lookahead search does (search-and-learn's beam search
// generates the lookahead text but scores the beam without it; only its DVTS scores it); naive
// selection takes the highest-scoring candidate that has an answer (the recipe's pred is the
// argmax over all of them); paths cut short by the budget join the candidates as they are (a
// DVTS subtree: the copies of its head), which the recipe, having no budget, never meets; fewer
// than n finished beams are not padded by duplicates (the recipe repeats them to n); the final
// weights use `reduction` too (the recipe's evaluation weighs by the last score whatever
// agg_strategy; the same with the default); when n is not a multiple of M, n/M rounds down (at
// least 1 beam survives); finish_steps are unscored (a path keeps the score of its last scored
// step); a fork refused for capacity leaves fewer beams or children (stated in the trace); near
// a token budget a step's token cap is lowered so that the run never passes the budget; the
// lazily prefilled prompt is reserved first (detail::prompt_reserve: the count the model tells,
// else one token per byte), so max_total_tokens holds whenever the prompt is within its reserve.

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
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
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of beam search and DVTS.
struct beam_search_params {
  std::uint32_t n = 16;          ///< beams (> 0): the population extended at every step
  std::uint32_t width = 4;       ///< M (> 0, <= n): beam search keeps n/M beams and expands each M ways; DVTS has n/M subtrees of M children
  std::uint32_t max_steps = 40;  ///< step cap: the most scored steps of one beam (> 0)
  std::uint32_t lookahead = 0;   ///< k greedy rollout steps before scoring a candidate (0: score the step itself; none on the last step)
  std::uint32_t finish_steps = 0; ///< at the step cap, up to this many more unscored steps for each unfinished path so it can answer (0: capped paths are kept as they are)
  step_reduction reduction = step_reduction::last; ///< a candidate's step scores to its score, which ranks it and weighs its answer (search-and-learn's agg_strategy, "last")
  step_params stepping{};        ///< each extend's parameters (max_step_tokens is lowered near a token budget)
  vote_params vote{};            ///< tie-break of the final weighted vote
};

namespace detail {

/// Validates beam search / DVTS parameters.
[[nodiscard]] inline result<void> check_beam_params(const beam_search_params& p, const char* who) {
  if (p.n == 0) return fail(errc::invalid_argument, fmt::format("{}: n must be > 0", who));
  if (p.width == 0 || p.width > p.n) return fail(errc::invalid_argument, fmt::format("{}: width must be in [1, n]", who));
  if (p.max_steps == 0) return fail(errc::invalid_argument, fmt::format("{}: max_steps must be > 0", who));
  if (to_string(p.reduction) == "unknown") return fail(errc::invalid_argument, fmt::format("{}: unknown reduction", who));
  return validate(p.stepping);
}

/// Scores the just-extended paths at `slots` of `set`: the step itself (one PRM call), or, with
/// `lookahead` k > 0, a greedy rollout of k more steps on a fork of each unfinished path, scored
/// at its end (k extends and one PRM call over all of them); the forks are released. A path the
/// engine had no capacity to fork is scored on its own step. Writes each path's `score`: its
/// scored view's step scores reduced by params.reduction.
template <class M, class R>
result<void> score_candidates(search_context<M, R>& c, std::span<const std::size_t> slots, const beam_search_params& params,
                              std::uint32_t lookahead, std::uint32_t step) {
  auto& paths = c.set.paths;
  path_set<M> rollouts(c.model);
  std::vector<std::optional<std::size_t>> by_rollout(slots.size());
  if (lookahead > 0) {
    std::vector<std::size_t> owner; // rollouts.paths[j] scores paths[slots[owner[j]]]
    std::size_t refused = 0;
    for (std::size_t j = 0; j < slots.size(); ++j) {
      const auto& q = paths[slots[j]];
      if (q.done) continue;
      auto copy = c.set.duplicate(q);
      if (!copy) return copy.error();
      if (!copy.value()) {
        ++refused;
        continue;
      }
      by_rollout[j] = rollouts.paths.size();
      rollouts.paths.push_back(std::move(*copy.value()));
      owner.push_back(j);
    }
    if (refused != 0)
      c.out.trace.push_back(trace_event{step, fmt::format("lookahead: no capacity to fork {} candidates; scored as they are", refused)});
    step_params greedy = params.stepping;
    greedy.temperature = 0.0f;
    std::vector<std::size_t> live;
    std::vector<std::uint32_t> ids;
    for (std::uint32_t r = 0; r < lookahead; ++r) {
      live.clear();
      ids.clear();
      for (std::size_t j = 0; j < rollouts.paths.size(); ++j)
        if (!rollouts.paths[j].done) {
          live.push_back(j);
          ids.push_back(static_cast<std::uint32_t>(slots[owner[j]]));
        }
      if (live.empty()) break;
      if (auto why = rollouts.afford(c.limit, c.spent(), live.size(), params.stepping.max_step_tokens, greedy)) {
        c.out.stopped_by = why;
        break;
      }
      if (auto ok = rollouts.extend(live, ids, step, greedy, c.stream); !ok) return ok.error();
    }
  }
  std::vector<solution_view> views;
  views.reserve(slots.size());
  for (std::size_t j = 0; j < slots.size(); ++j)
    views.push_back(by_rollout[j] ? rollouts.paths[*by_rollout[j]].view() : paths[slots[j]].view());
  auto scores = score_views(c.prm, c.p, views);
  if (!scores) return scores.error();
  for (std::size_t j = 0; j < slots.size(); ++j)
    paths[slots[j]].score = reduce_steps(params.reduction, std::span<const double>(scores.value()[j]));
  return {};
}

/// Best-of-n over candidate paths weighed by their scores (weighted vote, or naive argmax).
template <class Seq, class Key>
void finish_beams(const std::vector<search_path<Seq>>& candidates, const Key& key, bool naive, const vote_params& vote,
                  strategy_result& out) {
  std::vector<std::optional<std::string>> answers;
  std::vector<double> weights;
  answers.reserve(candidates.size());
  for (const auto& q : candidates) {
    answers.push_back(key(q.as_completion()));
    weights.push_back(q.score);
  }
  choose_answer(answers, weights, naive, vote, out);
}

/// search_run's hooks for beam search.
template <class M, class Key>
struct beam_hooks {
  using path = typename path_set<M>::path;
  const beam_search_params& params;
  const Key& key;
  bool naive = false;
  std::vector<path> finished{}; ///< the first n finished beams, in the order they finished

  template <class Ctx>
  void seeds(Ctx&, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids) const {
    ids.assign(live.begin(), live.end());
  }
  template <class Ctx>
  result<void> score(Ctx& c, std::span<const std::size_t> live, std::uint32_t step, bool last) const {
    return score_candidates(c, live, params, last ? 0 : params.lookahead, step);
  }
  template <class Ctx>
  result<bool> select(Ctx& c, std::uint32_t step, bool last) {
    auto& paths = c.set.paths;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if (!paths[i].done) order.push_back(i);
      else if (finished.size() < params.n) finished.push_back(paths[i]);
    }
    if (finished.size() >= params.n || order.empty()) {
      c.set.release_all();
      paths.clear();
      return true;
    }
    // On the cap's step every unfinished beam stays, as a capped candidate: no pruning, no forks.
    if (last) {
      c.set.keep_only(order);
      return false;
    }
    const std::size_t keep = std::max<std::size_t>(1, params.n / params.width);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return paths[a].score > paths[b].score; });
    if (order.size() > keep) order.resize(keep);
    c.set.keep_only(order);
    // Refill to n: survivor j gets copies j, j + keep, j + 2 keep, ... (about M each).
    std::vector<std::size_t> ancestors(params.n);
    for (std::size_t i = 0; i < ancestors.size(); ++i) ancestors[i] = i % paths.size();
    std::sort(ancestors.begin(), ancestors.end());
    auto dropped = c.set.reassign(ancestors);
    if (!dropped) return dropped.error();
    if (dropped.value() != 0)
      c.out.trace.push_back(trace_event{step, fmt::format("fork: no capacity; {} beams instead of {}", paths.size(), params.n)});
    return false;
  }
  template <class Ctx>
  void finish(Ctx& c, std::uint32_t steps, bool capped) {
    const auto& paths = c.set.paths;
    if (capped)
      c.out.trace.push_back(trace_event{steps, fmt::format("step cap {} reached: {} beams unfinished", params.max_steps, paths.size())});
    // The beams still in the set (capped, or cut by the budget) follow the finished ones.
    const std::size_t done = finished.size();
    for (const auto& q : paths)
      if (finished.size() < params.n) finished.push_back(q);
    c.out.trace.push_back(trace_event{steps, fmt::format("{} steps, {} finished beams, {} candidates", steps, done, finished.size())});
    finish_beams(finished, key, naive, params.vote, c.out);
  }
};

/// search_run's hooks for DVTS. tree[i] is the subtree of set.paths[i]; a subtree's paths are contiguous.
template <class M, class Key>
struct dvts_hooks {
  using path = typename path_set<M>::path;
  const beam_search_params& params;
  const Key& key;
  bool naive = false;
  std::size_t width = 1;
  std::size_t trees = 1;
  std::vector<std::size_t> tree{};
  std::vector<std::vector<path>> candidates{}; ///< per subtree: the children of its last expansion, once it ended

  template <class Ctx>
  void seeds(Ctx&, std::span<const std::size_t> live, std::vector<std::uint32_t>& ids) const {
    // Seeds follow (subtree, child), so a subtree's draws do not depend on the others.
    ids.resize(live.size());
    for (std::size_t j = 0, child = 0; j < live.size(); ++j) {
      child = (j > 0 && tree[live[j]] == tree[live[j - 1]]) ? child + 1 : 0;
      ids[j] = static_cast<std::uint32_t>(tree[live[j]] * width + child);
    }
  }
  template <class Ctx>
  result<void> score(Ctx& c, std::span<const std::size_t> live, std::uint32_t step, bool last) const {
    return score_candidates(c, live, params, last ? 0 : params.lookahead, step);
  }
  template <class Ctx>
  result<bool> select(Ctx& c, std::uint32_t step, bool last) {
    auto& paths = c.set.paths;
    if (last) return false; // every subtree's children stay as they are: its candidates at the cap
    // Each subtree keeps its best child (ties: the first); a finished best child ends the subtree,
    // whose M children are then its candidates.
    std::vector<std::size_t> heads, head_tree;
    for (std::size_t i = 0; i < paths.size();) {
      std::size_t best = i, j = i;
      for (; j < paths.size() && tree[j] == tree[i]; ++j)
        if (paths[j].score > paths[best].score) best = j;
      if (paths[best].done) {
        for (std::size_t m = i; m < j; ++m) candidates[tree[i]].push_back(paths[m]);
      } else {
        heads.push_back(best);
        head_tree.push_back(tree[i]);
      }
      i = j;
    }
    c.set.keep_only(heads);
    tree.clear();
    if (paths.empty()) return true;
    std::vector<std::size_t> ancestors, origin;
    for (std::size_t h = 0; h < paths.size(); ++h) ancestors.insert(ancestors.end(), width, h);
    auto dropped = c.set.reassign(ancestors, &origin);
    if (!dropped) return dropped.error();
    tree.resize(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) tree[i] = head_tree[origin[i]];
    if (dropped.value() != 0)
      c.out.trace.push_back(trace_event{step, fmt::format("fork: no capacity; {} children dropped", dropped.value())});
    return false;
  }
  template <class Ctx>
  void finish(Ctx& c, std::uint32_t steps, bool capped) {
    const auto& paths = c.set.paths;
    std::size_t open = 0, ended = 0;
    for (std::size_t i = 0; i < tree.size(); ++i) open += (i == 0 || tree[i] != tree[i - 1]) ? 1 : 0;
    for (const auto& t : candidates) ended += t.empty() ? 0 : 1;
    if (capped)
      c.out.trace.push_back(trace_event{steps, fmt::format("step cap {} reached: {} subtrees unfinished", params.max_steps, open)});
    // Open subtrees (capped, or cut by the budget) contribute the paths they hold.
    for (std::size_t i = 0; i < paths.size(); ++i) candidates[tree[i]].push_back(paths[i]);
    std::vector<path> all;
    for (auto& t : candidates)
      for (auto& q : t) all.push_back(std::move(q));
    c.out.trace.push_back(trace_event{steps, fmt::format("{} steps, {} finished subtrees of {}, {} candidates", steps, ended,
                                                         trees, all.size())});
    finish_beams(all, key, naive, params.vote, c.out);
  }
};

} // namespace detail

/// Beam search (Snell et al. 2024) with compile-time choices of selection and answer key.
/// @tparam Selection select_weighted (weighted best-of-n over the candidates) or select_naive
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class AnswerKey>
class basic_beam_search {
public:
  using params_type = beam_search_params;

  basic_beam_search() = default;
  explicit basic_beam_search(beam_search_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem: beams live in `model`, steps are scored by `reward`.
  /// @returns the result, or: invalid_argument (bad params), budget_exhausted (not one step
  ///          affordable), engine_failure (a PRM returning the wrong number of scores or a NaN or
  ///          out-of-range score; an extend returning the wrong number of steps; anything the
  ///          answer key throws), or either model's error. Every engine sequence is released on
  ///          every path out.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "beam_search", [&] { return detail::check_beam_params(params_, "beam_search"); },
        [&]() -> result<strategy_result> {
          detail::beam_hooks<M, AnswerKey> hooks{params_, key_, std::is_same_v<Selection, select_naive>};
          const detail::search_shape shape{"beam_search", params_.n, params_.max_steps, params_.finish_steps, params_.stepping};
          return detail::search_run(model, reward, p, limit, stream, shape, hooks);
        });
  }

  [[nodiscard]] const beam_search_params& params() const noexcept { return params_; }

private:
  beam_search_params params_{};
  AnswerKey key_{};
};

/// Diverse verifier tree search (the search-and-learn recipe): n/M independent greedy subtrees.
/// @tparam Selection select_weighted (weighted best-of-n over the subtrees' candidates) or select_naive
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class AnswerKey>
class basic_dvts {
public:
  using params_type = beam_search_params;

  basic_dvts() = default;
  explicit basic_dvts(beam_search_params params, AnswerKey key = {}) : params_(std::move(params)), key_(std::move(key)) {}

  /// Runs on one problem; the same contract as basic_beam_search::run.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "dvts", [&] { return detail::check_beam_params(params_, "dvts"); },
        [&]() -> result<strategy_result> {
          const std::size_t width = params_.width;
          const std::size_t trees = std::max<std::size_t>(1, params_.n / width);
          detail::dvts_hooks<M, AnswerKey> hooks{params_, key_, std::is_same_v<Selection, select_naive>, width, trees};
          // Children of one subtree are contiguous: start() forks the root into trees * width paths.
          hooks.tree.resize(trees * width);
          for (std::size_t i = 0; i < hooks.tree.size(); ++i) hooks.tree[i] = i / width;
          hooks.candidates.resize(trees);
          const detail::search_shape shape{"dvts", trees * width, params_.max_steps, params_.finish_steps, params_.stepping};
          return detail::search_run(model, reward, p, limit, stream, shape, hooks);
        });
  }

  [[nodiscard]] const beam_search_params& params() const noexcept { return params_; }

private:
  beam_search_params params_{};
  AnswerKey key_{};
};

/// Beam search with weighted best-of-n over the finished beams (Snell et al.'s setting).
using beam_search = basic_beam_search<select_weighted, canonical_answer_key>;
/// DVTS with weighted best-of-n over the subtrees' candidates.
using dvts = basic_dvts<select_weighted, canonical_answer_key>;

} // namespace reckon
