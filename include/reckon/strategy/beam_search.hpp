// SPDX-License-Identifier: Apache-2.0
// PRM-guided beam search and diverse verifier tree search (DVTS) over reasoning steps, expanding by forks.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally...", section 5; the
// search-and-learn recipe): beam search keeps n beams of width M: each step extends every active
// beam in ONE batched extend and scores them in ONE PRM call; finished beams are set aside; the top
// n/M unfinished beams by step score survive and are refilled to n by forking (about M copies each).
// DVTS splits the n beams into n/M independent subtrees, each a greedy beam: per step its head is
// forked into M children, and the best-scoring child becomes the head. Optional lookahead k: each
// candidate is scored after a greedy rollout of k more steps (on a fork, released afterwards),
// which costs n(k + 1) steps per step. Both finish with best-of-n (weighted by default) over the
// finished beams, scored by their last step. Cost per step: one extend and one PRM call (plus k
// extends and one PRM call with lookahead); the prompt is prefilled once (one begin, forks after).
// Deviations: beam search stops once n beams have finished (the recipe runs every iteration and
// keeps the best n); when n is not a multiple of M, n/M rounds down (at least 1 beam survives);
// a fork refused for capacity leaves fewer beams or children (stated in the trace); near a token
// budget a step's token cap is lowered so that the run never passes the budget.

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
  std::uint32_t max_steps = 40;  ///< step cap: the most steps of one beam (> 0)
  std::uint32_t lookahead = 0;   ///< k greedy rollout steps before scoring a candidate (0: score the step itself)
  step_params stepping{};        ///< each extend's parameters (max_step_tokens is lowered near a token budget)
  vote_params vote{};            ///< tie-break of the final weighted vote
};

namespace detail {

/// Validates beam search / DVTS parameters.
[[nodiscard]] inline result<void> check_beam_params(const beam_search_params& p, const char* who) {
  if (p.n == 0) return fail(errc::invalid_argument, fmt::format("{}: n must be > 0", who));
  if (p.width == 0 || p.width > p.n) return fail(errc::invalid_argument, fmt::format("{}: width must be in [1, n]", who));
  if (p.max_steps == 0) return fail(errc::invalid_argument, fmt::format("{}: max_steps must be > 0", who));
  return validate(p.stepping);
}

/// Scores the just-extended paths at `slots` of `set`: the step itself (one PRM call), or, with
/// lookahead k, a greedy rollout of k more steps on a fork of each unfinished path, scored at its
/// end (k extends and one PRM call over all of them); the forks are released. A path the engine
/// had no capacity to fork is scored on its own step. Writes each path's `score`.
template <class M, class R>
result<void> score_candidates(path_set<M>& set, std::span<const std::size_t> slots, metered<M&>& m, metered<R&>& prm,
                              const problem& p, const beam_search_params& params, const budget& limit,
                              const random_stream& stream, std::uint32_t step, strategy_result& out) {
  auto& paths = set.paths;
  path_set<M> rollouts(m);
  std::vector<std::size_t> owner; // rollouts.paths[j] scores paths[slots[owner[j]]]
  std::vector<std::optional<std::size_t>> by_rollout(slots.size());
  if (params.lookahead > 0) {
    std::size_t refused = 0;
    for (std::size_t j = 0; j < slots.size(); ++j) {
      const auto& q = paths[slots[j]];
      if (q.done) continue;
      auto copy = set.duplicate(q);
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
      out.trace.push_back(trace_event{step, fmt::format("lookahead: no capacity to fork {} candidates; scored as they are", refused)});
    step_params greedy = params.stepping;
    greedy.temperature = 0.0f;
    std::vector<std::size_t> live;
    std::vector<std::uint32_t> ids;
    for (std::uint32_t r = 0; r < params.lookahead; ++r) {
      live.clear();
      ids.clear();
      for (std::size_t j = 0; j < rollouts.paths.size(); ++j)
        if (!rollouts.paths[j].done) {
          live.push_back(j);
          ids.push_back(static_cast<std::uint32_t>(slots[owner[j]]));
        }
      if (live.empty()) break;
      if (auto why = afford_extend(limit, combined_ledger(m, prm), live.size(), params.stepping.max_step_tokens, greedy)) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = rollouts.extend(live, ids, step, greedy, stream); !ok) return ok.error();
    }
  }
  std::vector<solution_view> views;
  views.reserve(slots.size());
  for (std::size_t j = 0; j < slots.size(); ++j)
    views.push_back(by_rollout[j] ? rollouts.paths[*by_rollout[j]].view() : paths[slots[j]].view());
  auto scores = score_views(prm, p, views);
  if (!scores) return scores.error();
  for (std::size_t j = 0; j < slots.size(); ++j) paths[slots[j]].score = scores.value()[j].back();
  return {};
}

/// Best-of-n over finished paths scored by their last step (weighted vote, or naive argmax).
template <class Seq, class Key>
void finish_beams(const std::vector<search_path<Seq>>& finished, const Key& key, bool naive, const vote_params& vote,
                  strategy_result& out) {
  std::vector<std::optional<std::string>> answers;
  std::vector<double> weights;
  answers.reserve(finished.size());
  for (const auto& q : finished) {
    answers.push_back(key(q.as_completion()));
    weights.push_back(q.score);
  }
  choose_answer(answers, weights, naive, vote, out);
}

} // namespace detail

/// Beam search (Snell et al. 2024) with compile-time choices of selection and answer key.
/// @tparam Selection select_weighted (weighted best-of-n over finished beams) or select_naive
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
  ///          out-of-range score; an extend returning the wrong number of steps), or either model's
  ///          error. Every engine sequence is released on every path out.
  template <stepping_model M, process_reward_model R>
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    if (auto ok = detail::check_beam_params(params_, "beam_search"); !ok) return ok.error();
    try {
      return run_checked(model, reward, p, limit, stream);
    } catch (const reckon::exception& e) {
      return e.error();
    }
  }

  [[nodiscard]] const beam_search_params& params() const noexcept { return params_; }

private:
  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    metered<R&> prm(reward);
    strategy_result out;
    detail::path_set<M> set(m);
    if (auto why = limit.check(detail::combined_ledger(m, prm))) return detail::nothing_affordable(why);
    auto started = set.start(p, params_.n, out);
    if (!started) return started.error();
    auto& paths = set.paths;
    std::vector<typename detail::path_set<M>::path> finished;

    const std::size_t keep = std::max<std::size_t>(1, params_.n / params_.width);
    step_params sp = params_.stepping;
    std::vector<std::size_t> slots, order;
    std::vector<std::uint32_t> ids;
    std::uint32_t steps_taken = 0;
    for (std::uint32_t k = 0; k < params_.max_steps && !paths.empty(); ++k) {
      slots.resize(paths.size());
      std::iota(slots.begin(), slots.end(), std::size_t{0});
      ids.assign(slots.begin(), slots.end());
      if (auto why = detail::afford_extend(limit, detail::combined_ledger(m, prm), slots.size(), params_.stepping.max_step_tokens, sp)) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = set.extend(slots, ids, k, sp, stream); !ok) return ok.error();
      ++steps_taken;
      if (auto why = limit.check(detail::combined_ledger(m, prm))) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = detail::score_candidates(set, slots, m, prm, p, params_, limit, stream, k, out); !ok) return ok.error();
      // Finished beams leave the search; the best `keep` of the rest survive.
      order.clear();
      for (std::size_t i = 0; i < paths.size(); ++i) {
        if (paths[i].done) finished.push_back(paths[i]);
        else order.push_back(i);
      }
      if (finished.size() >= params_.n || order.empty()) {
        set.release_all();
        paths.clear();
        break;
      }
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return paths[a].score > paths[b].score; });
      if (order.size() > keep) order.resize(keep);
      set.keep_only(order);
      // Refill to n: survivor j gets copies j, j + keep, j + 2 keep, ... (about M each).
      std::vector<std::size_t> ancestors(params_.n);
      for (std::size_t i = 0; i < ancestors.size(); ++i) ancestors[i] = i % paths.size();
      std::sort(ancestors.begin(), ancestors.end());
      auto dropped = set.reassign(ancestors);
      if (!dropped) return dropped.error();
      if (dropped.value() != 0)
        out.trace.push_back(trace_event{k, fmt::format("fork: no capacity; {} beams instead of {}", paths.size(), params_.n)});
    }
    if (steps_taken == 0) return detail::nothing_affordable(out.stopped_by);
    if (!paths.empty() && !out.stopped_by)
      out.trace.push_back(trace_event{steps_taken, fmt::format("step cap {} reached: {} beams unfinished", params_.max_steps, paths.size())});
    set.release_all();
    out.trace.push_back(trace_event{steps_taken, fmt::format("{} steps, {} finished beams", steps_taken, finished.size())});
    detail::finish_beams(finished, key_, std::is_same_v<Selection, select_naive>, params_.vote, out);
    out.cost = detail::combined_ledger(m, prm);
    return out;
  }

  beam_search_params params_{};
  AnswerKey key_{};
};

/// Diverse verifier tree search (the search-and-learn recipe): n/M independent greedy subtrees.
/// @tparam Selection select_weighted (weighted best-of-n over the subtrees' answers) or select_naive
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
    if (auto ok = detail::check_beam_params(params_, "dvts"); !ok) return ok.error();
    try {
      return run_checked(model, reward, p, limit, stream);
    } catch (const reckon::exception& e) {
      return e.error();
    }
  }

  [[nodiscard]] const beam_search_params& params() const noexcept { return params_; }

private:
  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    metered<R&> prm(reward);
    strategy_result out;
    detail::path_set<M> set(m);
    if (auto why = limit.check(detail::combined_ledger(m, prm))) return detail::nothing_affordable(why);
    const std::size_t width = params_.width;
    const std::size_t trees = std::max<std::size_t>(1, params_.n / width);
    auto started = set.start(p, trees * width, out);
    if (!started) return started.error();
    auto& paths = set.paths;
    // tree[i]: the subtree of paths[i]; children of one subtree are contiguous.
    std::vector<std::size_t> tree(paths.size());
    for (std::size_t i = 0; i < tree.size(); ++i) tree[i] = std::min(i / width, trees - 1);
    std::vector<typename detail::path_set<M>::path> finished;

    step_params sp = params_.stepping;
    std::vector<std::size_t> slots, heads, ancestors, origin, head_tree;
    std::vector<std::uint32_t> ids;
    std::uint32_t steps_taken = 0;
    for (std::uint32_t k = 0; k < params_.max_steps && !paths.empty(); ++k) {
      slots.resize(paths.size());
      std::iota(slots.begin(), slots.end(), std::size_t{0});
      // Seeds follow (subtree, child), so a subtree's draws do not depend on the others.
      ids.resize(paths.size());
      for (std::size_t i = 0, c = 0; i < paths.size(); ++i) {
        c = (i > 0 && tree[i] == tree[i - 1]) ? c + 1 : 0;
        ids[i] = static_cast<std::uint32_t>(tree[i] * width + c);
      }
      if (auto why = detail::afford_extend(limit, detail::combined_ledger(m, prm), slots.size(), params_.stepping.max_step_tokens, sp)) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = set.extend(slots, ids, k, sp, stream); !ok) return ok.error();
      ++steps_taken;
      if (auto why = limit.check(detail::combined_ledger(m, prm))) {
        out.stopped_by = why;
        break;
      }
      if (auto ok = detail::score_candidates(set, slots, m, prm, p, params_, limit, stream, k, out); !ok) return ok.error();
      // Each subtree keeps its best child (ties: the first); a finished best child ends the subtree.
      heads.clear();
      head_tree.clear();
      for (std::size_t i = 0; i < paths.size();) {
        std::size_t best = i, j = i;
        for (; j < paths.size() && tree[j] == tree[i]; ++j)
          if (paths[j].score > paths[best].score) best = j;
        if (paths[best].done) {
          finished.push_back(paths[best]);
        } else {
          heads.push_back(best);
          head_tree.push_back(tree[i]);
        }
        i = j;
      }
      set.keep_only(heads);
      if (paths.empty()) break;
      ancestors.clear();
      for (std::size_t h = 0; h < paths.size(); ++h) ancestors.insert(ancestors.end(), width, h);
      auto dropped = set.reassign(ancestors, &origin);
      if (!dropped) return dropped.error();
      tree.resize(paths.size());
      for (std::size_t i = 0; i < paths.size(); ++i) tree[i] = head_tree[origin[i]];
      if (dropped.value() != 0)
        out.trace.push_back(trace_event{k, fmt::format("fork: no capacity; {} children dropped", dropped.value())});
    }
    if (steps_taken == 0) return detail::nothing_affordable(out.stopped_by);
    if (!paths.empty() && !out.stopped_by) {
      std::size_t open = 0;
      for (std::size_t i = 0; i < tree.size(); ++i) open += (i == 0 || tree[i] != tree[i - 1]) ? 1 : 0;
      out.trace.push_back(trace_event{steps_taken, fmt::format("step cap {} reached: {} subtrees unfinished", params_.max_steps, open)});
    }
    set.release_all();
    out.trace.push_back(trace_event{steps_taken, fmt::format("{} steps, {} finished subtrees of {}", steps_taken, finished.size(), trees)});
    detail::finish_beams(finished, key_, std::is_same_v<Selection, select_naive>, params_.vote, out);
    out.cost = detail::combined_ledger(m, prm);
    return out;
  }

  beam_search_params params_{};
  AnswerKey key_{};
};

/// Beam search with weighted best-of-n over the finished beams (Snell et al.'s setting).
using beam_search = basic_beam_search<select_weighted, canonical_answer_key>;
/// DVTS with weighted best-of-n over the subtrees' answers.
using dvts = basic_dvts<select_weighted, canonical_answer_key>;

} // namespace reckon
