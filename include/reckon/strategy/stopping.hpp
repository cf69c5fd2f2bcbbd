// SPDX-License-Identifier: Apache-2.0
// Adaptive stopping rules for self-consistency: fixed n, ESC window, Beta posterior, supermajority.
#pragma once

#include <reckon/aggregate/vote.hpp>
#include <reckon/core/result.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace reckon {

/// P(p1 > p2) for the two leading answers with vote counts a >= b, under independent uniform
/// priors on a Beta(a + 1, b + 1) posterior of the leader's share among the two (the "Beta"
/// stopping criterion of Adaptive-Consistency, Aggarwal et al. 2023): 1 - I_{1/2}(a + 1, b + 1),
/// which for integer counts is P(Binomial(a + b + 1, 1/2) <= a). Exact, in log space.
[[nodiscard]] inline double leader_posterior(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t n = a + b + 1;
  // sum_{j=0}^{a} C(n, j) / 2^n, accumulated with a running log-binomial coefficient.
  double log_c = 0.0; // log C(n, 0)
  double sum = 0.0;
  const double log_half_n = static_cast<double>(n) * std::log(0.5);
  for (std::uint64_t j = 0; j <= a && j <= n; ++j) {
    if (j > 0) log_c += std::log(static_cast<double>(n - j + 1)) - std::log(static_cast<double>(j));
    sum += std::exp(log_c + log_half_n);
  }
  return std::min(1.0, sum);
}

/// What a stopping rule sees after each round: the answers so far in sampling order (nullopt:
/// no answer) and their tally.
struct stopping_state {
  std::span<const std::optional<std::string>> answers; ///< every sample's answer key, in order
  const vote_tally& tally;                             ///< the vote over them
};

/// A stopping rule's verdict: stop, why (for the trace), and the answer when the rule decides it.
struct stop_verdict {
  bool stop = false;                 ///< stop sampling now
  std::string reason;                ///< e.g. "window of 5 unanimous"
  std::optional<std::string> answer; ///< the rule's answer (ESC: the unanimous window's); nullopt: the vote's
};

/// Fixed n: sample everything in one batched call; never stop early.
struct stop_never {
  /// Samples to request next, given `done` so far of at most `n`.
  [[nodiscard]] std::uint32_t next_batch(std::uint32_t done, std::uint32_t n) const noexcept { return n - done; }
  [[nodiscard]] stop_verdict check(const stopping_state&) const { return {}; }
};

/// ESC (Li et al. 2024, "Escape Sky-high Cost"): sample windows of `window` answers; stop as soon
/// as one window is unanimous (every sample in it has the same answer), and answer with that
/// window's answer (the reference, Yiwei98/ESC early_stop_*.py, returns the window's answer; the
/// vote over all samples is the answer only when no window was unanimous).
/// Windows are the paper's disjoint blocks of `window` consecutive samples: a round the budget cut
/// short leaves its block open and the next round asks only for the rest of it, so the rule sees
/// the same windows whatever the budget did (checking a sliding window after every round would
/// test more windows, and stop earlier and more often on a wrong answer, than the paper's rule).
/// Deviation: a window of samples without an answer is not unanimous (the reference maps every
/// unparsable sample to one placeholder, -1000, and would stop on it with an answer nobody gave).
struct stop_window {
  std::uint32_t window = 5; ///< samples per window (>= 1); the paper uses 5-8

  [[nodiscard]] std::uint32_t next_batch(std::uint32_t done, std::uint32_t n) const {
    detail::require(window >= 1, "stop_window: window must be >= 1");
    return std::min(window - done % window, n - done);
  }
  [[nodiscard]] stop_verdict check(const stopping_state& s) const {
    const std::size_t total = s.answers.size();
    if (total < window || total % window != 0) return {}; // the current window is still open
    const auto& first = s.answers[total - window];
    if (!first) return {};
    for (std::size_t i = total - window + 1; i < total; ++i)
      if (s.answers[i] != first) return {};
    return {true, "window of " + std::to_string(window) + " unanimous", first};
  }
};

/// Adaptive-Consistency's Beta rule (Aggarwal et al. 2023): after each batch, stop when the
/// posterior probability that the leader beats the runner-up, leader_posterior(v1, v2), reaches
/// `threshold` (0.95 as in its_hub and the paper).
/// Deviations from the reference (Pranjal2041/AdaptiveConsistency, BetaStoppingCriteria): it checks
/// after every sample, reckon after every `batch` samples so that the engine sees batched calls
/// (batch = 1 is the reference's rule; a larger batch stops at most batch - 1 samples later); a
/// sample without an answer abstains, where the reference counts None as one more answer.
struct stop_posterior {
  double threshold = 0.95;  ///< posterior needed to stop, in (0.5, 1)
  std::uint32_t batch = 4;  ///< samples per round (>= 1): the engine sees batched calls
  std::uint32_t min_samples = 2; ///< never stop before this many samples

  [[nodiscard]] std::uint32_t next_batch(std::uint32_t done, std::uint32_t n) const {
    detail::require(batch >= 1, "stop_posterior: batch must be >= 1");
    detail::require(std::isfinite(threshold) && threshold > 0.5 && threshold < 1.0,
                    "stop_posterior: threshold must be in (0.5, 1)");
    return std::min(batch, n - done);
  }
  [[nodiscard]] stop_verdict check(const stopping_state& s) const {
    if (s.answers.size() < min_samples || s.tally.answers.empty()) return {};
    const std::uint64_t v1 = s.tally.answers[0].count;
    const std::uint64_t v2 = s.tally.answers.size() > 1 ? s.tally.answers[1].count : 0;
    const double p = leader_posterior(v1, v2);
    if (p < threshold) return {};
    return {true, "posterior " + std::to_string(p) + " >= " + std::to_string(threshold), std::nullopt};
  }
};

/// Supermajority with doubling rounds: totals of 2, 4, 8, ... samples; stop when the leader's share
/// of all samples (abstentions included) reaches `threshold`.
struct stop_supermajority {
  double threshold = 0.75;    ///< share needed to stop, in (0.5, 1]
  std::uint32_t first = 2;    ///< samples in the first round (>= 1); each round doubles the total

  [[nodiscard]] std::uint32_t next_batch(std::uint32_t done, std::uint32_t n) const {
    detail::require(first >= 1, "stop_supermajority: first must be >= 1");
    detail::require(std::isfinite(threshold) && threshold > 0.5 && threshold <= 1.0,
                    "stop_supermajority: threshold must be in (0.5, 1]");
    const std::uint32_t want = done == 0 ? first : done; // double the total
    return std::min(want, n - done);
  }
  [[nodiscard]] stop_verdict check(const stopping_state& s) const {
    if (s.tally.answers.empty() || s.answers.empty()) return {};
    const double share = static_cast<double>(s.tally.answers[0].count) / static_cast<double>(s.answers.size());
    if (share < threshold) return {};
    return {true, "supermajority " + std::to_string(share) + " >= " + std::to_string(threshold), std::nullopt};
  }
};

} // namespace reckon
