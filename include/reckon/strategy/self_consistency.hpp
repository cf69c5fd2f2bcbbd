// SPDX-License-Identifier: Apache-2.0
// Self-consistency: sample, extract, canonicalise, vote; with optional adaptive stopping.
#pragma once

// Algorithm (Wang et al. 2023, "Self-Consistency Improves Chain of Thought Reasoning"): sample up to
// n completions in batched rounds, map each to its canonical answer (AnswerKey), and return the
// plurality answer (or the Weight-weighted one). Adaptive variants stop early: ESC's unanimous
// window (Li et al. 2024), Adaptive-Consistency's Beta posterior (Aggarwal et al. 2023) or a
// supermajority after doubling rounds (Stop policy, see stopping.hpp).
// Cost: one engine call per round (1 for fixed n), n completions at most; no reward-model calls.
// Answer: the vote's winner, or the answer a stopping rule settled on (ESC: the unanimous window's,
// as in its reference); the tally is always the vote over every sample drawn.
// Deviations: none in the vote. Ties break by weight, then count, then first seen (vote.hpp). ESC's
// deviation is stated in stopping.hpp.
// Confidence: the answer's share of the (weighted) vote over every sample.

#include <reckon/aggregate/vote.hpp>
#include <reckon/budget/budget.hpp>
#include <reckon/budget/metered.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/fwd.hpp>
#include <reckon/random/stream.hpp>
#include <reckon/strategy/answer_key.hpp>
#include <reckon/strategy/detail/guarded_run.hpp>
#include <reckon/strategy/detail/sampling_rounds.hpp>
#include <reckon/strategy/result.hpp>
#include <reckon/strategy/stopping.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace reckon {

/// Runtime numbers of self-consistency.
struct self_consistency_params {
  std::uint32_t n = 16;        ///< most samples (> 0)
  sampling_params sampling{};  ///< each request's parameters (the seed is set per round)
  vote_params vote{};          ///< tie-break of the final vote
};

/// Every vote weighs 1 (plain plurality).
struct unit_weight {
  [[nodiscard]] double operator()(const completion&) const noexcept { return 1.0; }
};

/// Self-consistency with compile-time choices of stopping rule, vote weight and answer key.
/// @tparam Stop      stop_never (fixed n), stop_window (ESC), stop_posterior, stop_supermajority
/// @tparam Weight    `double(const completion&)`, finite and >= 0: the sample's vote weight
/// @tparam AnswerKey `std::optional<std::string>(const completion&)`: the sample's vote key
template <class Stop, class Weight, class AnswerKey>
class basic_self_consistency {
public:
  using params_type = self_consistency_params;

  basic_self_consistency() = default;
  explicit basic_self_consistency(self_consistency_params params, Stop stop = {}, Weight weight = {},
                                  AnswerKey key = {})
      : params_(std::move(params)), stop_(std::move(stop)), weight_(std::move(weight)), key_(std::move(key)) {}

  /// Runs on one problem.
  /// @param model  any sampling_model (metered internally; its own state is untouched otherwise)
  /// @param limit  the budget; the run stops within it (see detail::sampling_rounds)
  /// @param stream the problem's random stream (its seed and problem id key every request)
  /// @returns the result, or: invalid_argument (n = 0, bad sampling params, a bad weight),
  ///          budget_exhausted (not even one sample affordable), engine_failure (anything the
  ///          model, the answer key, the weight or the stopping rule throws), or the model's error.
  template <sampling_model M>
  result<strategy_result> run(M& model, const problem& p, const budget& limit, const random_stream& stream) const {
    return detail::checked_run(
        "self_consistency",
        [&]() -> result<void> {
          if (params_.n == 0) return fail(errc::invalid_argument, "self_consistency: n must be > 0");
          return validate(params_.sampling);
        },
        [&] { return run_checked(model, p, limit, stream); });
  }

  [[nodiscard]] const self_consistency_params& params() const noexcept { return params_; }

private:
  template <class M>
  result<strategy_result> run_checked(M& model, const problem& p, const budget& limit,
                                      const random_stream& stream) const {
    metered<M&> m(model);
    strategy_result out;
    detail::sampling_rounds<M> rounds(m, p, params_.sampling, limit, stream);
    std::vector<completion> samples;
    std::vector<std::optional<std::string>> answers;
    vote_counter counter;
    std::optional<std::string> decided; // a stopping rule's own answer
    while (samples.size() < params_.n) {
      const auto want = stop_.next_batch(static_cast<std::uint32_t>(samples.size()), params_.n);
      const std::size_t before = samples.size();
      auto drawn = rounds.draw(want, samples, out);
      if (!drawn) return drawn.error();
      if (*drawn == 0) break;
      for (std::size_t i = before; i < samples.size(); ++i) {
        answers.push_back(key_(samples[i]));
        const double w = weight_(samples[i]);
        detail::require(std::isfinite(w) && w >= 0.0, "self_consistency: weights must be finite and >= 0");
        counter.add(answers.back() ? std::optional<std::string_view>(*answers.back()) : std::nullopt, w);
      }
      const vote_tally tally = counter.tally(params_.vote);
      const stop_verdict verdict = stop_.check(stopping_state{answers, tally});
      if (verdict.stop) {
        out.trace.push_back(trace_event{rounds.rounds(), "stopped: " + verdict.reason});
        decided = verdict.answer;
        break;
      }
    }
    if (samples.empty()) return detail::nothing_affordable(rounds.stopped_by());
    out.stopped_by = rounds.stopped_by();
    out.tally = counter.tally(params_.vote);
    out.answer = decided ? decided : out.tally.winner();
    const answer_tally* chosen = out.answer ? out.tally.find(*out.answer) : nullptr;
    out.confidence = chosen ? chosen->share : 0.0;
    out.samples = static_cast<std::uint32_t>(samples.size());
    out.cost = m.ledger();
    return out;
  }

  self_consistency_params params_{};
  Stop stop_{};
  Weight weight_{};
  AnswerKey key_{};
};

/// Fixed-n majority vote.
using self_consistency = basic_self_consistency<stop_never, unit_weight, canonical_answer_key>;
/// ESC: stop at the first unanimous window.
using esc_self_consistency = basic_self_consistency<stop_window, unit_weight, canonical_answer_key>;
/// Adaptive-Consistency: stop when the Beta posterior of the leader reaches the threshold.
using adaptive_self_consistency = basic_self_consistency<stop_posterior, unit_weight, canonical_answer_key>;
/// Supermajority after doubling rounds.
using supermajority_self_consistency = basic_self_consistency<stop_supermajority, unit_weight, canonical_answer_key>;

} // namespace reckon
