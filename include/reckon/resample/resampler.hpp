// SPDX-License-Identifier: Apache-2.0
// The resampler concept, the four schemes, and a runtime choice among them (for command lines).
#pragma once

#include <reckon/random/stream.hpp>
#include <reckon/resample/multinomial.hpp>
#include <reckon/resample/residual.hpp>
#include <reckon/resample/stratified.hpp>
#include <reckon/resample/systematic.hpp>
#include <reckon/resample/weights.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace reckon {

/// A resampling scheme: `r(weights, ancestors, rng)` fills `ancestors` (its size is the number of
/// offspring) with indices into `weights` (unnormalised, finite, >= 0, not all zero), drawing from
/// a reckon::random_stream. Every scheme gives ancestor i n w_i / sum(w) offspring in expectation.
///
/// Customization: any type with that call operator, e.g. a clone-capped systematic scheme.
/// Cost: O(n + N), no model calls.
template <class R>
concept resampler = requires(const R& r, std::span<const double> weights, std::span<std::size_t> ancestors,
                             random_stream& rng) { r(weights, ancestors, rng); };

static_assert(resampler<multinomial_resampler>);
static_assert(resampler<systematic_resampler>);
static_assert(resampler<stratified_resampler>);
static_assert(resampler<residual_resampler>);

/// The four schemes as a runtime value.
enum class resampling_scheme : std::uint8_t { multinomial, systematic, stratified, residual };

/// The scheme's name, e.g. "systematic".
[[nodiscard]] constexpr std::string_view to_string(resampling_scheme s) noexcept {
  switch (s) {
  case resampling_scheme::multinomial: return "multinomial";
  case resampling_scheme::systematic: return "systematic";
  case resampling_scheme::stratified: return "stratified";
  case resampling_scheme::residual: return "residual";
  }
  return "unknown";
}

/// The scheme named `name` ("multinomial", "systematic", "stratified", "residual"), or nullopt.
[[nodiscard]] constexpr std::optional<resampling_scheme> parse_resampling_scheme(std::string_view name) noexcept {
  if (name == "multinomial") return resampling_scheme::multinomial;
  if (name == "systematic") return resampling_scheme::systematic;
  if (name == "stratified") return resampling_scheme::stratified;
  if (name == "residual") return resampling_scheme::residual;
  return std::nullopt;
}

/// Resamples with the scheme chosen at run time; errors as the schemes'.
template <class Stream = random_stream>
void resample(resampling_scheme scheme, std::span<const double> weights, std::span<std::size_t> ancestors,
              Stream& rng) {
  switch (scheme) {
  case resampling_scheme::multinomial: return multinomial_resampler{}(weights, ancestors, rng);
  case resampling_scheme::systematic: return systematic_resampler{}(weights, ancestors, rng);
  case resampling_scheme::stratified: return stratified_resampler{}(weights, ancestors, rng);
  case resampling_scheme::residual: return residual_resampler{}(weights, ancestors, rng);
  }
  detail::require(false, "resample: unknown resampling_scheme");
}

/// Resamples n offspring from log-weights (max-shifted, so log-weights near -1000 work) with a
/// scheme: the usual entry point for particle filters. Errors as normalise_log_weights and the scheme's.
template <resampler R, class Stream = random_stream>
[[nodiscard]] std::vector<std::size_t> resample_log_weights(const R& scheme, std::span<const double> log_weights,
                                                            std::size_t n, Stream& rng) {
  const std::vector<double> w = normalise_log_weights(log_weights);
  std::vector<std::size_t> out(n);
  scheme(std::span<const double>(w), std::span<std::size_t>(out), rng);
  return out;
}

} // namespace reckon
