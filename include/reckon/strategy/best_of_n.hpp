// SPDX-License-Identifier: Apache-2.0
// Best-of-N: sample n, score each with a reward model, pick the best sample or the best-scored answer.
#pragma once

// Algorithm (Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective than
// Scaling Model Parameters", section 5): sample n completions in one batched call; score each with
// an ORM, or with a PRM whose per-step scores are reduced by last | min | prod | mean (Scorer);
// select "naive" (the highest-scoring sample's answer) or "weighted" (a* = argmax_a
// sum_{i: ans_i = a} s_i). `last` is the default reduction: Snell et al. found last > min > prod.
// Cost: one engine call for n completions (more when a token budget splits them), one reward call.
// Deviations: a PRM sees the completion split into steps at `step_delimiter` (the paper's PRM sees
// newline-separated steps); naive selection skips samples without an extractable answer (they
// cannot be "best" of anything); confidence is the winner's share of the total score.

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
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
/// (reduce_last, reduce_min, reduce_prod, reduce_mean from aggregate/reduce.hpp).
template <class Reduce>
struct prm_scorer {
  template <class R>
  static constexpr bool accepts = process_reward_model<R>;

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
/// @tparam Scorer    orm_scorer or prm_scorer<reduce_last | reduce_min | reduce_prod | reduce_mean>
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`
template <class Selection, class Scorer, class AnswerKey>
class basic_best_of_n {
public:
  using params_type = best_of_n_params;

  basic_best_of_n() = default;
  explicit basic_best_of_n(best_of_n_params params, Scorer scorer = {}, AnswerKey key = {})
      : params_(std::move(params)), scorer_(std::move(scorer)), key_(std::move(key)) {}

  /// Runs on one problem: samples from `model`, scores with `reward`.
  /// @returns the result, or: invalid_argument (n = 0, bad params), budget_exhausted (no sample
  ///          affordable), engine_failure (a reward model returning the wrong number of scores,
  ///          or a score that is NaN or outside [0, 1]), or either model's error.
  template <sampling_model M, class R>
    requires(Scorer::template accepts<R>)
  result<strategy_result> run(M& model, R& reward, const problem& p, const budget& limit,
                              const random_stream& stream) const {
    if (params_.n == 0) return fail(errc::invalid_argument, "best_of_n: n must be > 0");
    if (params_.step_delimiter.empty()) return fail(errc::invalid_argument, "best_of_n: step_delimiter must not be empty");
    if (auto ok = validate(params_.sampling); !ok) return ok.error();

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

    auto scores = scorer_(scorer_model, p, samples, params_.step_delimiter);
    if (!scores) return scores.error();
    std::vector<std::optional<std::string>> answers;
    answers.reserve(samples.size());
    for (const auto& c : samples) answers.push_back(key_(c));

    out.tally = weighted_vote(answers, *scores, params_.vote);
    if constexpr (std::is_same_v<Selection, select_naive>) {
      std::optional<std::size_t> best;
      for (std::size_t i = 0; i < samples.size(); ++i)
        if (answers[i] && (!best || (*scores)[i] > (*scores)[*best])) best = i;
      if (best) {
        out.answer = answers[*best];
        out.confidence = (*scores)[*best];
        out.trace.push_back(trace_event{rounds.rounds(), fmt::format("best sample {} scored {:.4f}", *best, (*scores)[*best])});
      }
    } else {
      out.answer = out.tally.winner();
      out.confidence = out.tally.leader() ? out.tally.leader()->share : 0.0;
    }
    out.stopped_by = rounds.stopped_by();
    out.samples = static_cast<std::uint32_t>(samples.size());
    out.cost = m.ledger();
    out.cost.prm_calls += scorer_model.ledger().prm_calls;
    out.cost.prm_tokens += scorer_model.ledger().prm_tokens;
    return out;
  }

  [[nodiscard]] const best_of_n_params& params() const noexcept { return params_; }

private:
  best_of_n_params params_{};
  Scorer scorer_{};
  AnswerKey key_{};
};

/// Best-of-N, naive selection, PRM with the `last` reduction (Snell et al.'s best).
using best_of_n = basic_best_of_n<select_naive, prm_scorer<reduce_last>, canonical_answer_key>;
/// Weighted best-of-N, PRM with the `last` reduction.
using weighted_best_of_n = basic_best_of_n<select_weighted, prm_scorer<reduce_last>, canonical_answer_key>;

} // namespace reckon
