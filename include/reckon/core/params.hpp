// SPDX-License-Identifier: Apache-2.0
// Runtime parameters of engine requests (`*_params` aggregates) and their validation.
#pragma once

#include <reckon/core/result.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace reckon {

/// Which token statistics to compute; engines compute them only where asked, so ask up front.
struct logprob_params {
  bool logprobs = false;   ///< log p of each chosen token
  bool entropy = false;    ///< entropy and varentropy of each token's distribution
  std::uint32_t top_k = 0; ///< top-k logprobs per token (0: none); DeepConf uses 20
};

/// Parameters of one sampling request (n whole completions of a prompt).
struct sampling_params {
  std::uint32_t max_tokens = 2048; ///< cap on generated tokens per completion (> 0)
  float temperature = 1.0f;        ///< softmax temperature (>= 0; 0 means greedy)
  float top_p = 1.0f;              ///< nucleus mass in (0, 1]
  std::vector<std::string> stop;   ///< stop strings (non-empty); the completion ends before the earliest match of any
  std::uint64_t seed = 0;          ///< request seed; completion i uses request_seed(seed, i)
  logprob_params stats{};          ///< token statistics to return
};

/// How much effort an extend asks of the model for its step: SCALE's System 1 (standard: direct,
/// cheap) or System 2 (deliberate: thinking). An adapter maps deliberate to what its engine has for
/// it (a thinking chat template, a larger token cap); one that has nothing steps as standard.
enum class effort_level : std::uint8_t {
  standard,   ///< the model's ordinary step (System 1)
  deliberate, ///< a step thought through at more cost (System 2)
};

/// Parameters of one batched extend request (one reasoning step per sequence).
struct step_params {
  std::uint32_t max_step_tokens = 512;   ///< cap on one step's tokens (> 0)
  std::uint32_t max_total_tokens = 4096; ///< cap on a sequence's generated tokens; reaching it ends the sequence
  float temperature = 1.0f;              ///< softmax temperature (>= 0; 0 means greedy)
  float top_p = 1.0f;                    ///< nucleus mass in (0, 1]
  std::string delimiter = "\n\n";        ///< text that ends a step (a blank line by default)
  logprob_params stats{};                ///< token statistics to return
  effort_level effort = effort_level::standard; ///< the effort of every step of this call (SCALE's System 1 / 2)
};

namespace detail {
inline result<void> check_sampling_knobs(float temperature, float top_p) {
  if (!std::isfinite(temperature) || temperature < 0.0f)
    return fail(errc::invalid_argument, "temperature must be finite and >= 0");
  if (!std::isfinite(top_p) || top_p <= 0.0f || top_p > 1.0f)
    return fail(errc::invalid_argument, "top_p must be in (0, 1]");
  return {};
}
} // namespace detail

/// Checks a sampling request's parameters; adapters call it before touching the engine.
[[nodiscard]] inline result<void> validate(const sampling_params& p) {
  if (p.max_tokens == 0) return fail(errc::invalid_argument, "sampling_params.max_tokens must be > 0");
  for (const auto& s : p.stop) // an empty stop string would match at once and give empty completions
    if (s.empty()) return fail(errc::invalid_argument, "sampling_params.stop must not contain an empty string");
  return detail::check_sampling_knobs(p.temperature, p.top_p);
}

/// Checks an extend request's parameters; adapters call it before touching the engine.
[[nodiscard]] inline result<void> validate(const step_params& p) {
  if (p.max_step_tokens == 0) return fail(errc::invalid_argument, "step_params.max_step_tokens must be > 0");
  if (p.max_total_tokens == 0) return fail(errc::invalid_argument, "step_params.max_total_tokens must be > 0");
  if (p.delimiter.empty()) return fail(errc::invalid_argument, "step_params.delimiter must not be empty");
  if (p.effort != effort_level::standard && p.effort != effort_level::deliberate)
    return fail(errc::invalid_argument, "step_params.effort must be standard or deliberate");
  return detail::check_sampling_knobs(p.temperature, p.top_p);
}

} // namespace reckon
