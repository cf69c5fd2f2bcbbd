// SPDX-License-Identifier: Apache-2.0
// model_traits<M>: per-adapter facts strategies plan with, read from optional static members.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace reckon {

namespace detail {
template <class M>
concept has_max_sequences = requires { { M::max_sequences } -> std::convertible_to<std::size_t>; };
template <class M>
concept has_supports_rollback = requires { { M::supports_rollback } -> std::convertible_to<bool>; };
template <class M>
concept has_logprob_top_k = requires { { M::logprob_top_k } -> std::convertible_to<std::uint32_t>; };
template <class M>
concept has_full_logits = requires { { M::full_logits } -> std::convertible_to<bool>; };
template <class M>
concept has_cost_per_token = requires { { M::cost_per_token } -> std::convertible_to<double>; };
} // namespace detail

/// Static facts about a model adapter. Each member's default applies unless M declares a
/// `static constexpr` member of the same name.
///
/// Customization: declare the members on the adapter, or specialise `reckon::model_traits<M>`
/// for a type you cannot change.
/// ```
/// struct my_engine {
///   static constexpr std::size_t max_sequences = 64;   // KV sequence slots
///   static constexpr bool supports_rollback = true;
///   static constexpr std::uint32_t logprob_top_k = 20;
/// };
/// ```
template <class M>
struct model_traits {
  /// Live sequences the engine can hold at once (fork fails with no_capacity beyond it).
  static constexpr std::size_t max_sequences = [] {
    if constexpr (detail::has_max_sequences<M>) return static_cast<std::size_t>(M::max_sequences);
    else return std::numeric_limits<std::size_t>::max();
  }();
  /// Whether rollback(seq, n) is implemented.
  static constexpr bool supports_rollback = [] {
    if constexpr (detail::has_supports_rollback<M>) return static_cast<bool>(M::supports_rollback);
    else return false;
  }();
  /// The widest top-k of logprobs the engine returns per token (0: none).
  static constexpr std::uint32_t logprob_top_k = [] {
    if constexpr (detail::has_logprob_top_k<M>) return static_cast<std::uint32_t>(M::logprob_top_k);
    else return std::uint32_t{0};
  }();
  /// Whether entropy and varentropy are exact (full logits rows) rather than top-k estimates.
  static constexpr bool full_logits = [] {
    if constexpr (detail::has_full_logits<M>) return static_cast<bool>(M::full_logits);
    else return false;
  }();
  /// Relative cost of one token of this model (heterogeneous fast/slow agents); 1 by default.
  static constexpr double cost_per_token = [] {
    if constexpr (detail::has_cost_per_token<M>) return static_cast<double>(M::cost_per_token);
    else return 1.0;
  }();
};

} // namespace reckon
