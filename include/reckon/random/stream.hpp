// SPDX-License-Identifier: Apache-2.0
// Keyed counter-based random streams: draws depend on (seed, problem, particle, step), never on order.
#pragma once

#include <reckon/core/result.hpp>
#include <reckon/random/philox.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

namespace reckon {

/// What identifies a random stream. Streams with different keys are independent; the same key
/// always gives the same draws, whichever streams were created or consumed before it.
struct stream_key {
  std::uint64_t seed = 0;     ///< the run's seed
  std::uint64_t problem = 0;  ///< problem id (problem::id)
  std::uint32_t particle = 0; ///< particle, sample or beam index
  std::uint32_t step = 0;     ///< step, round or refinement index

  friend bool operator==(const stream_key&, const stream_key&) = default;
};

/// A stream of random 32-bit words for one stream_key; satisfies std::uniform_random_bit_generator.
///
/// The i-th word is word i % 4 of philox4x32(counter = {i / 4 (64 bits), particle, step},
/// key = K(seed, problem)), where K is itself a Philox block of (problem) under (seed), so the
/// 64-bit problem id is mixed in whole. A stream is 2^66 words long; copying one copies its position.
class random_stream {
public:
  using result_type = std::uint32_t;
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  /// The stream of key {0, 0, 0, 0}.
  constexpr random_stream() noexcept : random_stream(stream_key{}) {}
  /// The stream of `key`, at its start.
  constexpr explicit random_stream(const stream_key& key) noexcept : key_(key), philox_key_(derive_key(key)) {}
  /// The stream of {seed, problem, particle, step}, at its start.
  constexpr random_stream(std::uint64_t seed, std::uint64_t problem, std::uint32_t particle = 0,
                          std::uint32_t step = 0) noexcept
      : random_stream(stream_key{seed, problem, particle, step}) {}

  /// The next 32 random bits.
  constexpr result_type operator()() noexcept {
    if (used_ == 4) refill();
    return buffer_[used_++];
  }
  /// The next 64 random bits (two words, high word first).
  constexpr std::uint64_t next_u64() noexcept {
    const std::uint64_t hi = (*this)();
    return (hi << 32) | (*this)();
  }
  /// Skips `n` words in O(1).
  constexpr void discard(std::uint64_t n) noexcept {
    const std::uint64_t pos = position() + n;
    block_ = pos / 4;
    used_ = 4;
    if (pos % 4 != 0) {
      refill();
      used_ = static_cast<unsigned>(pos % 4);
    }
  }
  /// Words drawn so far.
  [[nodiscard]] constexpr std::uint64_t position() const noexcept { return block_ * 4 - (4 - used_); }
  /// The key this stream was made from.
  [[nodiscard]] constexpr const stream_key& key() const noexcept { return key_; }

  /// A stream for the same seed and problem but another particle and step (e.g. a child particle).
  [[nodiscard]] constexpr random_stream substream(std::uint32_t particle, std::uint32_t step) const noexcept {
    return random_stream(stream_key{key_.seed, key_.problem, particle, step});
  }

  friend constexpr bool operator==(const random_stream& a, const random_stream& b) noexcept {
    return a.key_ == b.key_ && a.position() == b.position();
  }

private:
  static constexpr philox4x32::key_type derive_key(const stream_key& k) noexcept {
    // Domain-separated so that key derivation never collides with a data block.
    const auto b = philox4x32::block({static_cast<std::uint32_t>(k.problem), static_cast<std::uint32_t>(k.problem >> 32),
                                      0x6B657921U, 0x7265636BU},
                                     {static_cast<std::uint32_t>(k.seed), static_cast<std::uint32_t>(k.seed >> 32)});
    return {b[0], b[1]};
  }
  constexpr void refill() noexcept {
    buffer_ = philox4x32::block({static_cast<std::uint32_t>(block_), static_cast<std::uint32_t>(block_ >> 32),
                                 key_.particle, key_.step},
                                philox_key_);
    ++block_;
    used_ = 0;
  }

  stream_key key_;
  philox4x32::key_type philox_key_;
  philox4x32::counter_type buffer_{};
  std::uint64_t block_ = 0; // next block to generate
  unsigned used_ = 4;       // words of buffer_ already handed out
};

/// A uniform double in [0, 1) with 53 random bits.
template <class Stream>
[[nodiscard]] constexpr double uniform01(Stream& stream) noexcept {
  std::uint64_t bits = stream();
  bits = (bits << 32) | stream();
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

/// A uniform double in [lo, hi). Throws reckon::exception unless lo <= hi, both finite.
template <class Stream>
[[nodiscard]] double uniform_real(Stream& stream, double lo, double hi) {
  detail::require(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "uniform_real: need finite lo <= hi");
  const double x = lo + (hi - lo) * uniform01(stream);
  return x < hi ? x : lo; // rounding can land on hi when hi - lo is tiny relative to lo
}

/// Draws index i with probability weights[i] / sum(weights), in one pass plus one draw.
/// Throws reckon::exception (invalid_argument) on an empty span, a negative, NaN or infinite
/// weight, or weights that sum to zero.
template <class Stream>
[[nodiscard]] std::size_t categorical(Stream& stream, std::span<const double> weights) {
  detail::require(!weights.empty(), "categorical: no weights");
  double total = 0.0;
  for (const double w : weights) {
    detail::require(std::isfinite(w) && w >= 0.0, "categorical: weights must be finite and >= 0");
    total += w;
  }
  detail::require(total > 0.0 && std::isfinite(total), "categorical: weights sum to zero or overflow");
  const double target = uniform01(stream) * total;
  double running = 0.0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0) continue;
    last_positive = i;
    running += weights[i];
    if (target < running) return i;
  }
  return last_positive; // rounding in the running sum: the last index with mass
}

/// A 64-bit seed for one engine request, derived from `stream` (advances it by two words).
/// Adapters receive these so that an engine's own sampler is keyed by reckon's streams.
template <class Stream>
[[nodiscard]] constexpr std::uint64_t request_seed(Stream& stream) noexcept {
  std::uint64_t hi = stream();
  return (hi << 32) | stream();
}

/// The seed of the i-th completion of a request whose seed is `seed`: a pure function, so a
/// completion's randomness does not depend on how many others share its request.
[[nodiscard]] constexpr std::uint64_t request_seed(std::uint64_t seed, std::uint32_t i) noexcept {
  random_stream s(stream_key{seed, 0x7265717565737473ULL, i, 0});
  return s.next_u64();
}

} // namespace reckon
