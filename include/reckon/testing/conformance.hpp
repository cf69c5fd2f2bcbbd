// SPDX-License-Identifier: Apache-2.0
// Adapter conformance checks: run-time tests of the contracts the capability concepts cannot express.
#pragma once

#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/stepping_model.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace reckon::testing {

/// What a conformance check found: one sentence per broken contract (empty: conforming).
struct conformance_report {
  std::vector<std::string> failures; ///< the broken contracts, in the order checked

  /// True when nothing failed.
  [[nodiscard]] bool ok() const noexcept { return failures.empty(); }
  /// The failures, one per line.
  [[nodiscard]] std::string to_string() const {
    std::string out;
    for (const auto& f : failures) out += f + "\n";
    return out;
  }
};

/// Checks a sampling model on `p`: exactly n completions, at least one engine call, usage's
/// generated tokens equal to the completions' (when reported), the same seed giving the same
/// texts (when `deterministic`; a model that draws without replacement, like replay_model, is not),
/// and n = 0 or max_tokens = 0 refused with errc::invalid_argument.
/// Cost: three sample calls of n plus two refused ones.
template <class M>
  requires sampling_model<M>
[[nodiscard]] conformance_report check_sampling(M& model, const problem& p, std::uint32_t n = 3, bool deterministic = true) {
  conformance_report r;
  auto fail_with = [&](std::string s) { r.failures.push_back(std::move(s)); };
  sampling_params sp;
  sp.seed = 12345;
  sp.max_tokens = 4096;
  auto a = model.sample(p, sp, n);
  auto b = model.sample(p, sp, n);
  if (!a || !b) {
    fail_with(fmt::format("sample(n = {}) failed: {}", n, !a ? a.error().message : b.error().message));
    return r;
  }
  const sample_batch& first = a.value();
  if (first.completions.size() != n)
    fail_with(fmt::format("sample(n = {}) returned {} completions", n, first.completions.size()));
  if (first.usage.engine_calls == 0) fail_with("sample reported no engine call");
  std::uint64_t tokens = 0;
  for (const auto& c : first.completions) tokens += c.tokens;
  if (first.usage.generated_tokens != 0 && first.usage.generated_tokens != tokens)
    fail_with(fmt::format("usage.generated_tokens = {} but the completions hold {} tokens", first.usage.generated_tokens, tokens));
  const sample_batch& second = b.value();
  for (std::size_t i = 0; deterministic && i < first.completions.size() && i < second.completions.size(); ++i)
    if (first.completions[i].text != second.completions[i].text) {
      fail_with(fmt::format("the same seed gave a different completion {}", i));
      break;
    }
  auto zero = model.sample(p, sp, 0);
  if (zero || zero.error().code != errc::invalid_argument) fail_with("sample(n = 0) was not refused with invalid_argument");
  sampling_params no_tokens = sp;
  no_tokens.max_tokens = 0;
  auto capped = model.sample(p, no_tokens, 1);
  if (capped || capped.error().code != errc::invalid_argument)
    fail_with("sample with max_tokens = 0 was not refused with invalid_argument");
  return r;
}

/// Checks a stepping model on `p`: extend returns one step per sequence; a fork extended with the
/// parent's seed continues exactly like the parent (the prefix is shared, not re-sampled) and costs
/// no prefill; mismatched seeds are refused with errc::invalid_argument; release frees the handles.
/// Cost: three extend calls on at most two sequences.
template <class M>
  requires stepping_model<M>
[[nodiscard]] conformance_report check_stepping(M& model, const problem& p) {
  conformance_report r;
  auto fail_with = [&](std::string s) { r.failures.push_back(std::move(s)); };
  auto root = model.begin(p);
  if (!root) {
    fail_with(fmt::format("begin failed: {}", root.error().message));
    return r;
  }
  typename M::sequence s = root.value();
  step_params sp;
  const std::uint64_t seed = 777;
  auto first = model.extend(std::span(&s, 1), sp, std::span(&seed, 1));
  if (!first || first.value().steps.size() != 1) {
    fail_with("extend of one sequence did not return one step");
    model.release(s);
    return r;
  }
  if (first.value().usage.engine_calls == 0) fail_with("extend reported no engine call");
  if (first.value().steps[0].done) {
    model.release(s);
    return r; // a one-step solution: nothing to fork
  }
  auto child = model.fork(s);
  if (!child) {
    fail_with(fmt::format("fork failed: {}", child.error().message));
    model.release(s);
    return r;
  }
  const typename M::sequence pair[2] = {s, child.value()};
  const std::uint64_t seeds[2] = {seed + 1, seed + 1};
  auto both = model.extend(pair, sp, seeds);
  if (!both || both.value().steps.size() != 2) {
    fail_with("extend of two sequences did not return two steps");
  } else {
    const step_batch& out = both.value();
    if (out.steps[0].text != out.steps[1].text) fail_with("a fork extended with its parent's seed continued differently");
    if (out.usage.prefilled_tokens != 0)
      fail_with(fmt::format("extending a fork prefilled {} tokens (a fork must share its prefix)", out.usage.prefilled_tokens));
  }
  auto mismatched = model.extend(pair, sp, std::span(seeds).first(1));
  if (mismatched || mismatched.error().code != errc::invalid_argument)
    fail_with("extend with fewer seeds than sequences was not refused with invalid_argument");
  model.release(pair[1]);
  model.release(pair[0]);
  return r;
}

/// Checks a process reward model: one score per step of each candidate, each in [0, 1].
template <class R>
  requires process_reward_model<R>
[[nodiscard]] conformance_report check_process_reward(R& prm, const problem& p, std::span<const solution_view> candidates) {
  conformance_report r;
  auto scores = prm.score_steps(p, candidates);
  if (!scores) {
    r.failures.push_back(fmt::format("score_steps failed: {}", scores.error().message));
    return r;
  }
  const auto& s = scores.value();
  if (s.size() != candidates.size()) {
    r.failures.push_back(fmt::format("score_steps returned {} rows for {} candidates", s.size(), candidates.size()));
    return r;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i].size() != candidates[i].steps.size())
      r.failures.push_back(fmt::format("candidate {}: {} scores for {} steps", i, s[i].size(), candidates[i].steps.size()));
    for (const double x : s[i])
      if (!(x >= 0.0 && x <= 1.0)) {
        r.failures.push_back(fmt::format("candidate {}: score {} outside [0, 1]", i, x));
        break;
      }
  }
  return r;
}

/// Checks an outcome reward model: one score per candidate, each in [0, 1].
template <class R>
  requires outcome_reward_model<R>
[[nodiscard]] conformance_report check_outcome_reward(R& orm, const problem& p, std::span<const solution_view> candidates) {
  conformance_report r;
  auto scores = orm.score_outcomes(p, candidates);
  if (!scores) {
    r.failures.push_back(fmt::format("score_outcomes failed: {}", scores.error().message));
    return r;
  }
  const auto& s = scores.value();
  if (s.size() != candidates.size())
    r.failures.push_back(fmt::format("score_outcomes returned {} scores for {} candidates", s.size(), candidates.size()));
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!(s[i] >= 0.0 && s[i] <= 1.0)) r.failures.push_back(fmt::format("candidate {}: score {} outside [0, 1]", i, s[i]));
  return r;
}

} // namespace reckon::testing
