// SPDX-License-Identifier: Apache-2.0
// Budgets: limits on tokens, calls and time that a strategy must stop within, and which one stopped it.
#pragma once

#include <reckon/budget/ledger.hpp>
#include <reckon/core/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace reckon {

/// Which limit of a budget stopped a run.
enum class stop_reason : std::uint8_t {
  generated_tokens, ///< budget::max_generated_tokens reached
  total_tokens,     ///< budget::max_total_tokens (generated + prefilled) reached
  engine_calls,     ///< budget::max_engine_calls reached
  prm_calls,        ///< budget::max_prm_calls reached
  prm_tokens,       ///< budget::max_prm_tokens reached
  wall_time,        ///< budget::max_wall_seconds of model time reached
  deadline,         ///< budget::deadline passed
};

/// The name of a stop reason, e.g. "generated_tokens".
[[nodiscard]] constexpr std::string_view to_string(stop_reason r) noexcept {
  switch (r) {
  case stop_reason::generated_tokens: return "generated_tokens";
  case stop_reason::total_tokens: return "total_tokens";
  case stop_reason::engine_calls: return "engine_calls";
  case stop_reason::prm_calls: return "prm_calls";
  case stop_reason::prm_tokens: return "prm_tokens";
  case stop_reason::wall_time: return "wall_time";
  case stop_reason::deadline: return "deadline";
  }
  return "unknown";
}

/// Limits on what a run may spend; every limit left at its default is off. A budget is the
/// composition "stop when ANY limit is reached"; `a & b` is the tighter of two budgets (each limit
/// the smaller, the earlier deadline), so budgets compose freely.
///
/// A limit is reached when the ledger's value is >= the limit. Strategies check before each model
/// call, so a run may overshoot a token limit by at most the call that crossed it.
/// ```
/// reckon::budget b{.max_generated_tokens = 20'000, .max_engine_calls = 64};
/// if (auto why = b.check(model.ledger())) fmt::print("stopped by {}\n", *why);
/// ```
struct budget {
  static constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max(); ///< "no limit"
  using clock = std::chrono::steady_clock;                                                ///< the deadline's clock

  std::uint64_t max_generated_tokens = unlimited; ///< cap on ledger::generated_tokens
  std::uint64_t max_total_tokens = unlimited;     ///< cap on generated + prefilled tokens
  std::uint64_t max_engine_calls = unlimited;     ///< cap on ledger::engine_calls
  std::uint64_t max_prm_calls = unlimited;        ///< cap on ledger::prm_calls
  std::uint64_t max_prm_tokens = unlimited;       ///< cap on ledger::prm_tokens
  double max_wall_seconds = std::numeric_limits<double>::infinity(); ///< cap on ledger::wall_seconds (> 0 or inf)
  std::optional<clock::time_point> deadline{};    ///< stop once clock::now() reaches it

  /// A budget with only a deadline `within` from now.
  [[nodiscard]] static budget deadline_in(clock::duration within) {
    budget b;
    b.deadline = clock::now() + within;
    return b;
  }

  /// True when no limit is set.
  [[nodiscard]] bool is_unlimited() const noexcept {
    return max_generated_tokens == unlimited && max_total_tokens == unlimited && max_engine_calls == unlimited &&
           max_prm_calls == unlimited && max_prm_tokens == unlimited && std::isinf(max_wall_seconds) &&
           !deadline.has_value();
  }

  /// Which limit `spent` has reached at time `now`, or nullopt when the run may go on. Limits are
  /// checked in the order of stop_reason. Throws reckon::exception (invalid_argument) when
  /// max_wall_seconds is NaN or negative.
  [[nodiscard]] std::optional<stop_reason> check(const ledger& spent, clock::time_point now) const {
    detail::require(!std::isnan(max_wall_seconds) && max_wall_seconds >= 0.0,
                    "budget: max_wall_seconds must be >= 0 (infinity for no limit)");
    if (spent.generated_tokens >= max_generated_tokens) return stop_reason::generated_tokens;
    if (spent.total_tokens() >= max_total_tokens) return stop_reason::total_tokens;
    if (spent.engine_calls >= max_engine_calls) return stop_reason::engine_calls;
    if (spent.prm_calls >= max_prm_calls) return stop_reason::prm_calls;
    if (spent.prm_tokens >= max_prm_tokens) return stop_reason::prm_tokens;
    if (spent.wall_seconds >= max_wall_seconds) return stop_reason::wall_time;
    if (deadline && now >= *deadline) return stop_reason::deadline;
    return std::nullopt;
  }
  /// check(spent, clock::now()).
  [[nodiscard]] std::optional<stop_reason> check(const ledger& spent) const { return check(spent, clock::now()); }

  /// Which limit forbids one more reward-model call, or nullopt: only the limits such a call
  /// spends (prm calls, prm tokens, wall time, the deadline). A step the engine has already paid
  /// for is scored and used even when it reached a token or engine-call limit. Throws as check().
  [[nodiscard]] std::optional<stop_reason> check_reward_call(const ledger& spent, clock::time_point now) const {
    detail::require(!std::isnan(max_wall_seconds) && max_wall_seconds >= 0.0,
                    "budget: max_wall_seconds must be >= 0 (infinity for no limit)");
    if (spent.prm_calls >= max_prm_calls) return stop_reason::prm_calls;
    if (spent.prm_tokens >= max_prm_tokens) return stop_reason::prm_tokens;
    if (spent.wall_seconds >= max_wall_seconds) return stop_reason::wall_time;
    if (deadline && now >= *deadline) return stop_reason::deadline;
    return std::nullopt;
  }
  /// check_reward_call(spent, clock::now()).
  [[nodiscard]] std::optional<stop_reason> check_reward_call(const ledger& spent) const {
    return check_reward_call(spent, clock::now());
  }

  /// Generated tokens still allowed by both token limits (0 when exhausted).
  [[nodiscard]] std::uint64_t generated_tokens_left(const ledger& spent) const noexcept {
    const std::uint64_t by_generated =
        spent.generated_tokens >= max_generated_tokens ? 0 : max_generated_tokens - spent.generated_tokens;
    const std::uint64_t by_total = spent.total_tokens() >= max_total_tokens ? 0 : max_total_tokens - spent.total_tokens();
    return by_generated < by_total ? by_generated : by_total;
  }

  /// The tighter of two budgets: each limit the smaller, the earlier deadline.
  [[nodiscard]] friend budget operator&(const budget& a, const budget& b) {
    budget out;
    out.max_generated_tokens = std::min(a.max_generated_tokens, b.max_generated_tokens);
    out.max_total_tokens = std::min(a.max_total_tokens, b.max_total_tokens);
    out.max_engine_calls = std::min(a.max_engine_calls, b.max_engine_calls);
    out.max_prm_calls = std::min(a.max_prm_calls, b.max_prm_calls);
    out.max_prm_tokens = std::min(a.max_prm_tokens, b.max_prm_tokens);
    out.max_wall_seconds = std::fmin(a.max_wall_seconds, b.max_wall_seconds);
    if (a.deadline && b.deadline) out.deadline = std::min(*a.deadline, *b.deadline);
    else out.deadline = a.deadline ? a.deadline : b.deadline;
    return out;
  }
};

} // namespace reckon

template <>
struct fmt::formatter<reckon::stop_reason> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(reckon::stop_reason r, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(reckon::to_string(r), ctx);
  }
};
