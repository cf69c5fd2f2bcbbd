// SPDX-License-Identifier: Apache-2.0
// Error codes, the error value, the exception, and result<T>: reckon's expected-like return type.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace reckon {

/// Why an operation failed. The engine codes mirror what adapters see (llama_decode, HTTP).
enum class errc : int {
  invalid_argument = 1, ///< the caller broke a documented precondition (NaN score, n = 0, ...)
  no_capacity,          ///< the engine has no room for another sequence / KV slot (recoverable)
  aborted,              ///< the engine aborted the call (llama_decode == 2, cancelled request)
  engine_failure,       ///< the engine failed or threw; the message says how
  budget_exhausted,     ///< a budget stopped the run before any result could be produced
  unsupported,          ///< the model lacks an optional capability (rollback, logprobs, ...)
  timeout,              ///< the engine did not answer in time
};

/// The name of an error code, e.g. "no_capacity".
[[nodiscard]] constexpr std::string_view to_string(errc code) noexcept {
  switch (code) {
  case errc::invalid_argument: return "invalid_argument";
  case errc::no_capacity: return "no_capacity";
  case errc::aborted: return "aborted";
  case errc::engine_failure: return "engine_failure";
  case errc::budget_exhausted: return "budget_exhausted";
  case errc::unsupported: return "unsupported";
  case errc::timeout: return "timeout";
  }
  return "unknown";
}

/// An error value: a code and a message for people.
struct error {
  errc code = errc::engine_failure; ///< what kind of failure
  std::string message;              ///< what happened, in one sentence

  friend bool operator==(const error&, const error&) = default;
};

/// The exception reckon throws. Policy, everywhere in reckon:
/// - Engine-facing operations (adapter calls, strategies' `run`) return `result<T>`; they never
///   throw for engine failures, and they turn an exception escaping an adapter into
///   `errc::engine_failure`.
/// - Misuse of a building block (a NaN weight handed to a resampler, n = 0, spans of different
///   lengths) throws `reckon::exception` with `errc::invalid_argument`: a programming error that
///   must not pass silently, and not a condition to branch on.
/// - `result<T>::value()` on an error throws `reckon::exception` carrying that error.
class exception : public std::runtime_error {
public:
  exception(errc code, const std::string& message)
      : std::runtime_error(std::string(to_string(code)) + ": " + message), error_{code, message} {}
  explicit exception(reckon::error e) : exception(e.code, e.message) {}

  /// The error code.
  [[nodiscard]] errc code() const noexcept { return error_.code; }
  /// The error as a value.
  [[nodiscard]] const reckon::error& error() const noexcept { return error_; }

private:
  reckon::error error_;
};

namespace detail {
/// Throws reckon::exception(errc::invalid_argument, message) unless `condition` holds.
inline void require(bool condition, std::string_view message) {
  if (!condition) throw exception(errc::invalid_argument, std::string(message));
}
} // namespace detail

/// Either a value of type T or an `error` (the part of C++23 std::expected reckon needs).
/// @tparam T the value type; `result<void>` carries no value.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, reckon::error>, "result<error> is ambiguous");

public:
  using value_type = T;

  /// A success holding a default value.
  result() requires std::is_default_constructible_v<T> : state_(std::in_place_index<0>) {}
  /// A success holding `value`.
  template <class U = T>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, reckon::error> &&
             !std::is_same_v<std::remove_cvref_t<U>, result>)
  result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {} // NOLINT: implicit like expected
  /// A failure.
  result(reckon::error e) : state_(std::in_place_index<1>, std::move(e)) {} // NOLINT: implicit like unexpected

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws reckon::exception carrying the error when there is none.
  [[nodiscard]] T& value() & { check(); return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { check(); return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { check(); return std::get<0>(std::move(state_)); }

  /// The value (precondition: has_value(); breaking it throws std::bad_variant_access, never UB).
  T& operator*() & { return std::get<0>(state_); }
  const T& operator*() const& { return std::get<0>(state_); }
  T* operator->() { return &std::get<0>(state_); }
  const T* operator->() const { return &std::get<0>(state_); }

  /// The error (precondition: !has_value(); breaking it throws std::bad_variant_access).
  [[nodiscard]] const reckon::error& error() const& { return std::get<1>(state_); }

  /// The value, or `fallback` when there is an error.
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }

private:
  void check() const {
    if (!has_value()) throw exception(std::get<1>(state_));
  }
  std::variant<T, reckon::error> state_;
};

/// `result<void>`: success or an error.
template <>
class [[nodiscard]] result<void> {
public:
  using value_type = void;
  result() = default;
  result(reckon::error e) : error_(std::move(e)), ok_(false) {} // NOLINT: implicit like unexpected

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  /// Throws reckon::exception carrying the error when there is one.
  void value() const {
    if (!ok_) throw exception(error_);
  }
  [[nodiscard]] const reckon::error& error() const& noexcept { return error_; }

private:
  reckon::error error_{};
  bool ok_ = true;
};

/// Builds an error value: `return reckon::fail(errc::no_capacity, "KV cache full");`.
[[nodiscard]] inline error fail(errc code, std::string message) { return error{code, std::move(message)}; }

} // namespace reckon
