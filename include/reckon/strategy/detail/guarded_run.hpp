// SPDX-License-Identifier: Apache-2.0
// Shared by every strategy's run(): validate, then run the body with no exception escaping.
#pragma once

#include <reckon/core/result.hpp>

#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace reckon::detail {

/// Runs `body` (returning result<T>) and turns anything it throws into an error result, so that no
/// exception escapes a strategy's run():
/// - reckon::exception: its own error (a building block's invalid_argument, a result's value());
/// - std::exception (an answer key, weight or stopping policy of the user's that threw, or a
///   std::bad_alloc): engine_failure naming `who` and the what();
/// - anything else: engine_failure naming `who`.
/// Models are already guarded by metered<M> (their exceptions become engine_failure there); this
/// is the outer guard for the strategy's own code and the user's policies.
template <class Body>
[[nodiscard]] auto guarded_run(std::string_view who, Body&& body) noexcept -> decltype(std::forward<Body>(body)()) {
  try {
    return std::forward<Body>(body)();
  } catch (const reckon::exception& e) {
    return e.error();
  } catch (const std::exception& e) {
    try {
      return reckon::error{errc::engine_failure, std::string(who) + ": threw: " + e.what()};
    } catch (...) {
      return reckon::error{errc::engine_failure, {}};
    }
  } catch (...) {
    try {
      return reckon::error{errc::engine_failure, std::string(who) + ": threw a non-standard exception"};
    } catch (...) {
      return reckon::error{errc::engine_failure, {}};
    }
  }
}

/// Validates with `check` (returning result<void>), then runs `body` under guarded_run: the one
/// shape of every strategy's run().
template <class Check, class Body>
[[nodiscard]] auto checked_run(std::string_view who, Check&& check, Body&& body) noexcept
    -> decltype(std::forward<Body>(body)()) {
  return guarded_run(who, [&]() -> decltype(std::forward<Body>(body)()) {
    if (auto ok = std::forward<Check>(check)(); !ok) return ok.error();
    return std::forward<Body>(body)();
  });
}

} // namespace reckon::detail
