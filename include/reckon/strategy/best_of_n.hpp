// SPDX-License-Identifier: Apache-2.0
// Best-of-N: sample n, score each with a reward model, pick the best sample or the best-scored answer.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective than
// Scaling Model Parameters", section 5): sample n completions in one batched call; score each with
// an ORM, or with a PRM whose per-step scores are reduced by last | min | prod | mean (Scorer);
// select "naive" (the highest-scoring sample's answer) or "weighted" (a* = argmax_a
// sum_{i: ans_i = a} s_i). `last` is the default reduction: Snell et al. found last > min > prod.
// Cost: one engine call for n completions (more when a token budget splits them), one reward call
// (none when the budget forbids it).
// Budget: the reward call is checked against what it spends (budget::check_reward_call: prm calls,
// prm tokens, wall time of both models, the deadline) on the combined ledger, and its prm tokens
// are known before the call (metered's ceil(characters / 4) of each sample), so the run never passes
// max_prm_tokens: when not every sample fits, the first k that fit are scored and selected from
// (the rest are dropped: a sample without a score cannot win either selection); when none fits or
// another limit forbids the call, the samples already paid for are used unscored: the result is
// their plurality vote, with stopped_by naming the limit (not an error: the answer is still the
// samples' best guess, and stopped_by says it is not reward-selected).
// Deviations: a PRM sees the completion split into steps at `step_delimiter` (the paper's PRM sees
// newline-separated steps); naive selection skips samples without an extractable answer (they
// cannot be "best" of anything).
// Tally and confidence: weighted, the score-weighted vote and the winner's share of the total score;
// naive, the plurality count of the scored samples' answers (naive chooses by one sample's score,
// so no summed tally stands behind it; the counts show how many samples agree, and need no sign of
// the scores) and the picked sample's score as a probability (exp of it for prm_scorer<
// reduce_log_prod>, whose scores are log-products; other scores clamped into [0, 1]).
// Scores: a log scorer (log_scores = true: prm_scorer<reduce_log_prod>) weighs a weighted vote by
// exp(s - max s), which ranks exactly as the product's weights without their underflow; any other
// scorer's scores must be >= 0 for weighted selection (a negative one is an invalid_argument error).

#include <reckon/aggregate/reduce.hpp>
#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/detail/search.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of best-of-N.
struct best_of_n_params {
  std::uint32_t n = 16;                 ///< samples (> 0)
  sampling_params sampling{};           ///< each request's parameters (the seed is set per round)
  std::string step_delimiter = "\n\n";  ///< where a PRM scorer splits a completion into steps (non-empty)
  vote_params vote{};                   ///< tie-break of the weighted vote
};

namespace detail {
/// Splits `text` into steps ending at `delimiter` (each step keeps its delimiter; a non-empty
/// remainder is the last step). An empty text is one empty step, so every sample has a score.
[[nodiscard]] inline std::vector<std::string> split_steps(std::string_view text, std::string_view delimiter) {
  std::vector<std::string> steps;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find(delimiter, at);
    if (end == std::string_view::npos) {
      steps.emplace_back(text.substr(at));
      break;
    }
    steps.emplace_back(text.substr(at, end + delimiter.size() - at));
    at = end + delimiter.size();
  }
  if (steps.empty()) steps.emplace_back();
  return steps;
}

/// Checks a reward model's scores: the right count, each finite and in [0, 1].
[[nodiscard]] inline result<void> check_scores(std::span<const double> scores, std::size_t expected, const char* who) {
  if (scores.size() != expected)
    return fail(errc::engine_failure, fmt::format("{} returned {} scores for {} candidates", who, scores.size(), expected));
  for (const double s : scores)
    if (!std::isfinite(s) || s < 0.0 || s > 1.0)
      return fail(errc::engine_failure, fmt::format("{} returned a score outside [0, 1]: {}", who, s));
  return {};
}
} // namespace detail

/// Scores whole completions with an outcome reward model.
struct orm_scorer {
  template <class R>
  static constexpr bool accepts = outcome_reward_model<R>;
  static constexpr bool log_scores = false; ///< scores are probabilities in [0, 1]

  template <class R>
  result<std::vector<double>> operator()(R& reward, const problem& p, std::span<const completion> samples,
                                         std::string_view /*delimiter*/) const {
    std::vector<std::string> texts;
    texts.reserve(samples.size());
    for (const auto& c : samples) texts.push_back(c.text);
    std::vector<solution_view> views;
    views.reserve(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) views.push_back(solution_view{std::span<const std::string>(&texts[i], 1), true, samples[i].source});
    auto scores = reward.score_outcomes(p, views);
    if (!scores) return scores.error();
    if (auto ok = detail::check_scores(*scores, samples.size(), "outcome reward model"); !ok) return ok.error();
    return scores;
  }
};

/// Scores whole completions with a process reward model, reducing each one's step scores by Reduce
/// (reduce_last, reduce_min, reduce_prod, reduce_mean, reduce_log_prod from aggregate/reduce.hpp).
template <class Reduce>
struct prm_scorer {
  template <class R>
  static constexpr bool accepts = process_reward_model<R>;
  /// reduce_log_prod scores are log-products in [-inf, 0]; the other reductions give [0, 1].
  static constexpr bool log_scores = std::is_same_v<Reduce, reduce_log_prod>;

  Reduce reduce{};

  template <class R>
  result<std::vector<double>> operator()(R& reward, const problem& p, std::span<const completion> samples,
                                         std::string_view delimiter) const {
    std::vector<std::vector<std::string>> steps;
    steps.reserve(samples.size());
    for (const auto& c : samples) steps.push_back(detail::split_steps(c.text, delimiter));
    std::vector<solution_view> views;
    views.reserve(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) views.push_back(solution_view{steps[i], true, samples[i].source});
    auto per_step = reward.score_steps(p, views);
    if (!per_step) return per_step.error();
    if (per_step->size() != samples.size())
      return fail(errc::engine_failure, fmt::format("process reward model returned {} score lists for {} candidates",
                                                    per_step->size(), samples.size()));
    std::vector<double> scores;
    scores.reserve(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (auto ok = detail::check_scores((*per_step)[i], steps[i].size(), "process reward model"); !ok) return ok.error();
      scores.push_back(reduce((*per_step)[i]));
    }
    return scores;
  }
};

/// Pick the highest-scoring sample (with an answer); ties go to the earlier sample.
struct select_naive {};
/// Pick the answer with the largest summed score.
struct select_weighted {};

/// Best-of-N with compile-time choices of selection, scorer and answer key.
/// @tparam Selection select_naive or select_weighted
/// @tparam Scorer    orm_scorer or prm_scorer<reduce_last | reduce_min | reduce_prod | reduce_mean |
///                   reduce_log_prod>, or any scorer of their shape (log_scores optional, default false)
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class Scorer, class AnswerKey>
class basic_best_of_n {
public:
  using params_type = best_of_n_params;

  basic_best_of_n() = default;
  explicit basic_best_of_n(best_of_n_params params, Scorer scorer = {}, AnswerKey key = {})
      : params_(std::move(params)), scorer_(std::move(scorer)), key_(std::move(key)) {}

  /// Runs on one problem: samples from `model`, scores with `reward`.
  /// @returns the result, or: invalid_argument (n = 0, bad params; weighted selection with a
  ///          negative score), budget_exhausted (no sample affordable), engine_failure (a reward
  ///          model returning the wrong number of scores, or a score that is NaN or outside
  ///          [0, 1]; anything a model, the answer key or the scorer throws), or either model's
  ///          error. A budget that forbids the reward call is a result (see the header).
  template <sampling_model M, class R>
    requires(Scorer::template accepts<R>)
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    return detail::checked_run(
        "best_of_n", [&]() -> result<void> { return check_params(); },
        [&] { return run_checked(model, reward, p, limit, stream); });
  }

  [[nodiscard]] const best_of_n_params& params() const noexcept { return params_; }

private:
  static constexpr bool log_scores = [] {
    if constexpr (requires { Scorer::log_scores; }) return static_cast<bool>(Scorer::log_scores);
    else return false;
  }();

  [[nodiscard]] result<void> check_params() const {
    if (params_.n == 0) return fail(errc::invalid_argument, "best_of_n: n must be > 0");
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "best_of_n: step_delimiter must not be empty");
    return validate(params_.sampling);
  }

  template <class M, class R>
  result<strategy_result> run_checked(M& model, R& reward, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    metered<R&> scorer_model(reward);
    strategy_result out;
    detail::sampling_rounds<M> rounds(m, p, params_.sampling, limit, stream);
    std::vector<completion> samples;
    while (samples.size() < params_.n) {
      auto drawn = rounds.draw(params_.n - static_cast<std::uint32_t>(samples.size()), samples, out);
      if (!drawn) return drawn.error();
      if (*drawn == 0) break;
    }
    if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    out.stopped_by = rounds.stopped_by();

    std::vector<std::optional<std::string>> answers;
    answers.reserve(samples.size());
    for (const auto& c : samples) answers.push_back(key_(c));

    // The reward call's prm tokens are metered's estimate of exactly these texts, so the prefix
    // that fits is known before the call.
    std::optional<stop_reason> unaffordable = limit.check_reward_call(detail::combined_ledger(m, scorer_model));
    std::size_t scored = 0;
    if (!unaffordable) {
      const std::uint64_t left = limit.max_prm_tokens - detail::combined_ledger(m, scorer_model).prm_tokens;
      std::uint64_t cost = 0;
      while (scored < samples.size()) {
        cost += detail::estimate_tokens(samples[scored].text.size());
        if (cost > left) break;
        ++scored;
      }
      if (scored == 0) unaffordable = stop_reason::prm_tokens;
    }
    if (unaffordable) {
      out.stopped_by = unaffordable;
      out.tally = plurality_vote(answers, params_.vote);
      out.answer = out.tally.winner();
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
      out.trace.push_back(trace_event{rounds.rounds(), fmt::format("reward call not affordable ({}): plurality of {} unscored samples",
                                                                   *unaffordable, samples.size())});
      out.samples = static_cast<std::uint32_t>(samples.size());
      out.cost = detail::combined_ledger(m, scorer_model);
      return out;
    }
    if (scored < samples.size()) {
      out.stopped_by = stop_reason::prm_tokens;
      out.trace.push_back(trace_event{rounds.rounds(), fmt::format("prm tokens allow scoring {} of {} samples", scored, samples.size())});
      samples.resize(scored);
      answers.resize(scored);
    }

    auto scores = scorer_(scorer_model, p, std::span<const completion>(samples), params_.step_delimiter);
    out.cost = detail::combined_ledger(m, scorer_model);
    if (!scores) return scores.error();
    if (scores->size() != samples.size())
      return fail(errc::engine_failure, fmt::format("best_of_n: the scorer returned {} scores for {} samples", scores->size(), samples.size()));
    for (const double s : *scores)
      if (std::isnan(s)) return fail(errc::engine_failure, "best_of_n: the scorer returned NaN");

    if constexpr (std::is_same_v<Selection, select_naive>) {
      out.tally = plurality_vote(answers, params_.vote);
      std::optional<std::size_t> best;
      for (std::size_t i = 0; i < samples.size(); ++i)
        if (answers[i] && (!best || (*scores)[i] > (*scores)[*best])) best = i;
      if (best) {
        const double s = (*scores)[*best];
        out.answer = answers[*best];
        out.confidence = std::clamp(log_scores ? std::exp(s) : s, 0.0, 1.0);
        out.trace.push_back(trace_event{rounds.rounds(), fmt::format("best sample {} scored {:.4f}", *best, s)});
      }
    } else {
      std::vector<double> weights(*scores);
      if constexpr (log_scores) {
        const double top = *std::max_element(weights.begin(), weights.end());
        for (double& w : weights) w = std::isinf(top) ? 0.0 : std::exp(w - top); // all -inf: every weight 0
      } else {
        for (const double w : weights)
          if (!std::isfinite(w) || w < 0.0)
            return fail(errc::invalid_argument,
                        fmt::format("weighted best_of_n: a score of {} cannot weigh a vote (weights must be finite and >= 0; "
                                    "use naive selection, or a scorer with log_scores)", w));
      }
      out.tally = weighted_vote(answers, weights, params_.vote);
      out.answer = out.tally.winner();
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    }
    out.samples = static_cast<std::uint32_t>(samples.size());
    return out;
  }

  best_of_n_params params_{};
  Scorer scorer_{};
  AnswerKey key_{};
};

/// Best-of-N, naive selection, PRM with the `last` reduction (Snell et al.'s best).
using best_of_n = basic_best_of_n<select_naive, prm_scorer<reduce_last>, canonical_answer_key>;
/// Weighted best-of-N, PRM with the `last` reduction.
using weighted_best_of_n = basic_best_of_n<select_weighted, prm_scorer<reduce_last>, canonical_answer_key>;

} // namespace reckon
