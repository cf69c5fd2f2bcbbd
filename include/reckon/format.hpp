// SPDX-License-Identifier: Apache-2.0
// fmt formatters for reckon's public types: `fmt::print("{}", err)`.
#pragma once

#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>

#include <fmt/format.h>

#include <string_view>

namespace reckon {

/// The name of a finish reason, e.g. "eos".
[[nodiscard]] constexpr std::string_view to_string(finish_reason r) noexcept {
  switch (r) {
  case finish_reason::step: return "step";
  case finish_reason::stop: return "stop";
  case finish_reason::eos: return "eos";
  case finish_reason::length: return "length";
  }
  return "unknown";
}

namespace detail {
/// Base for formatters that take no format spec.
struct plain_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') throw fmt::format_error("reckon types take no format spec");
    return it;
  }
};
} // namespace detail

} // namespace reckon

template <>
struct fmt::formatter<reckon::errc> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(reckon::errc c, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(reckon::to_string(c), ctx);
  }
};

template <>
struct fmt::formatter<reckon::finish_reason> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(reckon::finish_reason r, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(reckon::to_string(r), ctx);
  }
};

/// "no_capacity: KV cache full"
template <>
struct fmt::formatter<reckon::error> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::error& e, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}: {}", reckon::to_string(e.code), e.message);
  }
};

/// "prefilled=120 generated=900 calls=4"
template <>
struct fmt::formatter<reckon::usage> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::usage& u, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "prefilled={} generated={} calls={}", u.prefilled_tokens, u.generated_tokens,
                          u.engine_calls);
  }
};

/// "problem 42 (17 chars)"
template <>
struct fmt::formatter<reckon::problem> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::problem& p, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "problem {} ({} chars)", p.id, p.prompt.size());
  }
};

/// "completion 37 tokens, eos: \"...\""  (text shortened to 40 characters)
template <>
struct fmt::formatter<reckon::completion> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::completion& c, Ctx& ctx) const -> decltype(ctx.out()) {
    const std::string_view text = c.text;
    const bool cut = text.size() > 40;
    return fmt::format_to(ctx.out(), "completion {} tokens, {}: \"{}{}\"", c.tokens, reckon::to_string(c.finish),
                          text.substr(0, 40), cut ? "..." : "");
  }
};

/// "step 12 tokens, step" or "step 12 tokens, eos (done)"
template <>
struct fmt::formatter<reckon::step> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::step& s, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "step {} tokens, {}{}", s.tokens, reckon::to_string(s.finish),
                          s.done ? " (done)" : "");
  }
};

/// "seed=1 problem=2 particle=3 step=4"
template <>
struct fmt::formatter<reckon::stream_key> : reckon::detail::plain_formatter {
  template <class Ctx>
  auto format(const reckon::stream_key& k, Ctx& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "seed={} problem={} particle={} step={}", k.seed, k.problem, k.particle, k.step);
  }
};
