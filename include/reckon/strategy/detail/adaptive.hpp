// SPDX-License-Identifier: Apache-2.0
// Shared by the adaptive strategies (zip_rc, odar, compute_optimal): budgets split across models, token costs, seeds.
#pragma once

#include <reckon/budget/budget.hpp>
#include <reckon/budget/ledger.hpp>
#include <reckon/concepts/model_traits.hpp>
#include <reckon/random/stream.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>

namespace reckon::detail {

/// What is left of `limit` once `spent` has been spent elsewhere (another model of the same run):
/// every count limit is reduced by the matching count, the wall-time limit by the wall time, the
/// deadline is kept. A budget for the next model's calls, so that the run as a whole stays within
/// `limit` when each part stays within its share.
[[nodiscard]] inline budget remaining_budget(const budget& limit, const ledger& spent) {
  auto less = [](std::uint64_t cap, std::uint64_t used) {
    if (cap == budget::unlimited) return cap;
    return used >= cap ? std::uint64_t{0} : cap - used;
  };
  budget out = limit;
  out.max_generated_tokens = less(limit.max_generated_tokens, spent.generated_tokens);
  out.max_total_tokens = less(limit.max_total_tokens, spent.total_tokens());
  out.max_engine_calls = less(limit.max_engine_calls, spent.engine_calls);
  out.max_prm_calls = less(limit.max_prm_calls, spent.prm_calls);
  out.max_prm_tokens = less(limit.max_prm_tokens, spent.prm_tokens);
  if (!std::isinf(limit.max_wall_seconds)) out.max_wall_seconds = std::max(0.0, limit.max_wall_seconds - spent.wall_seconds);
  return out;
}

template <class M>
concept has_runtime_cost_per_token = requires(const M& m) {
  { m.cost_per_token() } -> std::convertible_to<double>;
};

/// The relative cost of one of `m`'s tokens: a `cost_per_token()` member when the model has one
/// (a runtime value, as the synthetic agents), else model_traits<M>::cost_per_token (1 by default).
template <class M>
[[nodiscard]] double cost_per_token_of(const M& m) {
  if constexpr (has_runtime_cost_per_token<M>) return static_cast<double>(m.cost_per_token());
  else return model_traits<M>::cost_per_token;
}

/// A stream for one part of a run (a second agent, a probe), independent of the base stream's
/// own draws: same problem, the seed mixed with `salt` (SplitMix64 finaliser).
[[nodiscard]] constexpr random_stream salted_stream(const random_stream& base, std::uint64_t salt) noexcept {
  std::uint64_t x = base.key().seed ^ (salt * 0x9E3779B97F4A7C15ULL);
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return random_stream(stream_key{x, base.key().problem, 0, 0});
}

} // namespace reckon::detail
