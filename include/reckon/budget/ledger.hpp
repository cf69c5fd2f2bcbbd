// SPDX-License-Identifier: Apache-2.0
// The cost ledger: what a run spent in tokens, engine calls, reward-model calls, memory and time.
#pragma once

#include <reckon/core/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace reckon {

/// What a run cost. One ledger type for every strategy, so that two strategies can be compared at
/// matched compute. Field names are the JSON/CSV column names (`for_each_field` visits them).
///
/// `a += b` composes runs one after another: counts, serial depth and wall time add; the peaks
/// take the larger of the two. `parallel(a, b)` composes runs that overlap in time.
struct ledger {
  std::uint64_t generated_tokens = 0;    ///< tokens sampled by the model
  std::uint64_t prefilled_tokens = 0;    ///< tokens the engine processed that were not already in its KV cache
  std::uint64_t engine_calls = 0;        ///< batched engine calls (sample, extend, revise)
  std::uint64_t prm_calls = 0;           ///< reward-model calls (process or outcome reward model), batched
  std::uint64_t prm_tokens = 0;          ///< tokens the reward model read (see metered.hpp for the estimate)
  std::uint64_t embedding_calls = 0;     ///< embedding-model calls (ETS's semantic clusters), batched
  std::uint64_t embedding_tokens = 0;    ///< tokens the embedding model read
  std::uint64_t peak_live_sequences = 0; ///< the most sequences alive in the engine at once
  std::uint64_t peak_kv_tokens = 0;      ///< the most KV tokens held at once (sum of live sequences' lengths)
  std::uint64_t peak_shared_kv_tokens = 0; ///< the most KV tokens a prefix-sharing cache holds after an engine round (each shared prefix once)
  std::uint64_t shared_kv_token_rounds = 0; ///< the sum over engine rounds of those held tokens (mean_shared_kv_tokens() divides by serial_depth)
  std::uint64_t serial_depth = 0;        ///< sequential model rounds (a latency measure in steps)
  double wall_seconds = 0.0;             ///< seconds spent inside model calls (steady_clock)

  /// Generated plus prefilled tokens: what an engine had to compute.
  [[nodiscard]] constexpr std::uint64_t total_tokens() const noexcept { return generated_tokens + prefilled_tokens; }
  /// The KV tokens a prefix-sharing cache held, on average over the engine rounds (ETS's measure
  /// of a search's memory; 0 before the first round).
  [[nodiscard]] constexpr double mean_shared_kv_tokens() const noexcept {
    return serial_depth == 0 ? 0.0 : static_cast<double>(shared_kv_token_rounds) / static_cast<double>(serial_depth);
  }

  /// Adds an engine's report of one call (tokens and calls; nothing else changes).
  constexpr ledger& operator+=(const usage& u) noexcept {
    generated_tokens += u.generated_tokens;
    prefilled_tokens += u.prefilled_tokens;
    engine_calls += u.engine_calls;
    return *this;
  }

  /// Appends a later run: counts, depth and wall time add; peaks take the maximum.
  constexpr ledger& operator+=(const ledger& o) noexcept {
    generated_tokens += o.generated_tokens;
    prefilled_tokens += o.prefilled_tokens;
    engine_calls += o.engine_calls;
    prm_calls += o.prm_calls;
    prm_tokens += o.prm_tokens;
    embedding_calls += o.embedding_calls;
    embedding_tokens += o.embedding_tokens;
    peak_live_sequences = std::max(peak_live_sequences, o.peak_live_sequences);
    peak_kv_tokens = std::max(peak_kv_tokens, o.peak_kv_tokens);
    peak_shared_kv_tokens = std::max(peak_shared_kv_tokens, o.peak_shared_kv_tokens);
    shared_kv_token_rounds += o.shared_kv_token_rounds;
    serial_depth += o.serial_depth;
    wall_seconds += o.wall_seconds;
    return *this;
  }
  friend constexpr ledger operator+(ledger a, const ledger& b) noexcept { return a += b; }

  /// Two runs that overlapped in time: counts add, peaks add (both were alive together), serial
  /// depth and wall time take the longer of the two.
  [[nodiscard]] friend constexpr ledger parallel(const ledger& a, const ledger& b) noexcept {
    ledger out = a;
    out.generated_tokens += b.generated_tokens;
    out.prefilled_tokens += b.prefilled_tokens;
    out.engine_calls += b.engine_calls;
    out.prm_calls += b.prm_calls;
    out.prm_tokens += b.prm_tokens;
    out.embedding_calls += b.embedding_calls;
    out.embedding_tokens += b.embedding_tokens;
    out.peak_live_sequences += b.peak_live_sequences;
    out.peak_kv_tokens += b.peak_kv_tokens;
    out.peak_shared_kv_tokens += b.peak_shared_kv_tokens;
    out.shared_kv_token_rounds += b.shared_kv_token_rounds;
    out.serial_depth = std::max(a.serial_depth, b.serial_depth);
    out.wall_seconds = std::max(a.wall_seconds, b.wall_seconds);
    return out;
  }

  friend bool operator==(const ledger&, const ledger&) = default;
};

/// Calls `f(name, value)` for each field of `l`, in declaration order, with the field's JSON name;
/// values are std::uint64_t except `wall_seconds` (double). Use it to write CSV headers and rows.
template <class F>
constexpr void for_each_field(const ledger& l, F&& f) {
  f("generated_tokens", l.generated_tokens);
  f("prefilled_tokens", l.prefilled_tokens);
  f("engine_calls", l.engine_calls);
  f("prm_calls", l.prm_calls);
  f("prm_tokens", l.prm_tokens);
  f("embedding_calls", l.embedding_calls);
  f("embedding_tokens", l.embedding_tokens);
  f("peak_live_sequences", l.peak_live_sequences);
  f("peak_kv_tokens", l.peak_kv_tokens);
  f("peak_shared_kv_tokens", l.peak_shared_kv_tokens);
  f("shared_kv_token_rounds", l.shared_kv_token_rounds);
  f("serial_depth", l.serial_depth);
  f("wall_seconds", l.wall_seconds);
}

} // namespace reckon

/// `{}`: "generated_tokens=900 prefilled_tokens=120 ... wall_seconds=0.013";
/// `{:j}`: the same as a JSON object, {"generated_tokens":900,...}.
template <>
struct fmt::formatter<reckon::ledger> {
  bool json = false;

  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == 'j') {
      json = true;
      ++it;
    }
    if (it != ctx.end() && *it != '}') throw fmt::format_error("reckon::ledger takes no spec or 'j'");
    return it;
  }

  template <class Ctx>
  auto format(const reckon::ledger& l, Ctx& ctx) const -> decltype(ctx.out()) {
    auto out = ctx.out();
    bool first = true;
    if (json) *out++ = '{';
    reckon::for_each_field(l, [&](const char* name, auto value) {
      if (!first) *out++ = json ? ',' : ' ';
      first = false;
      if constexpr (std::is_floating_point_v<decltype(value)>) // seconds: microsecond resolution is plenty
        out = json ? fmt::format_to(out, "\"{}\":{:.6g}", name, value) : fmt::format_to(out, "{}={:.6g}", name, value);
      else
        out = json ? fmt::format_to(out, "\"{}\":{}", name, value) : fmt::format_to(out, "{}={}", name, value);
    });
    if (json) *out++ = '}';
    return out;
  }
};
