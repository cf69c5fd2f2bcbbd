// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 (Salmon et al., SC'11): the counter-based block function behind reckon's streams.
#pragma once

#include <array>
#include <cstdint>

namespace reckon {

/// Philox4x32 with 10 rounds: a keyed bijection of 128-bit counters, bit-identical to Random123's
/// `philox4x32_R(10, ctr, key)` (tested against its known-answer vectors).
struct philox4x32 {
  using counter_type = std::array<std::uint32_t, 4>;
  using key_type = std::array<std::uint32_t, 2>;

  /// The 128 random bits for `counter` under `key`.
  [[nodiscard]] static constexpr counter_type block(counter_type counter, key_type key) noexcept {
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        key[0] += 0x9E3779B9U; // golden ratio
        key[1] += 0xBB67AE85U; // sqrt(3) - 1
      }
      const std::uint64_t p0 = std::uint64_t{0xD2511F53U} * counter[0];
      const std::uint64_t p1 = std::uint64_t{0xCD9E8D57U} * counter[2];
      counter = {static_cast<std::uint32_t>(p1 >> 32) ^ counter[1] ^ key[0], static_cast<std::uint32_t>(p1),
                 static_cast<std::uint32_t>(p0 >> 32) ^ counter[3] ^ key[1], static_cast<std::uint32_t>(p0)};
    }
    return counter;
  }
};

} // namespace reckon
