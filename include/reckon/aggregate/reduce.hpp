// SPDX-License-Identifier: Apache-2.0
// Reductions of a solution's PRM step scores to one score: last | min | prod (in log space) | mean.
#pragma once

#include <reckon/core/result.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace reckon {

namespace detail {
/// Checks a solution's step scores: non-empty, each in [0, 1] (NaN fails).
inline void check_step_scores(std::span<const double> scores, const char* who) {
  if (scores.empty()) throw exception(errc::invalid_argument, std::string(who) + ": no step scores");
  for (const double s : scores)
    if (!(s >= 0.0 && s <= 1.0))
      throw exception(errc::invalid_argument, std::string(who) + ": step scores must be in [0, 1] (got NaN or out of range)");
}
/// sum_t log s_t (precondition: checked scores).
inline double sum_of_logs(std::span<const double> scores) noexcept {
  double sum = 0.0;
  for (const double s : scores) sum += std::log(s);
  return sum;
}
} // namespace detail

/// The score of the last step (Snell et al. 2024: the best of the four on MATH; the default).
/// Throws reckon::exception (invalid_argument) when `scores` is empty or a score is NaN or
/// outside [0, 1]; so do the other reductions.
struct reduce_last {
  [[nodiscard]] double operator()(std::span<const double> scores) const {
    detail::check_step_scores(scores, "reduce_last");
    return scores.back();
  }
};

/// The lowest step score (a chain is as good as its weakest step).
struct reduce_min {
  [[nodiscard]] double operator()(std::span<const double> scores) const {
    detail::check_step_scores(scores, "reduce_min");
    double m = scores[0];
    for (const double s : scores) m = s < m ? s : m;
    return m;
  }
};

/// The log of the product of the step scores, sum_t log s_t (-inf when a step scores 0). Ranks
/// exactly like the product without its underflow on long solutions.
struct reduce_log_prod {
  [[nodiscard]] double operator()(std::span<const double> scores) const {
    detail::check_step_scores(scores, "reduce_log_prod");
    return detail::sum_of_logs(scores);
  }
};

/// The product of the step scores, computed as exp(sum_t log s_t). It underflows to 0 below about
/// 1e-308; rank by reduce_log_prod where that matters.
struct reduce_prod {
  [[nodiscard]] double operator()(std::span<const double> scores) const {
    detail::check_step_scores(scores, "reduce_prod");
    return std::exp(detail::sum_of_logs(scores));
  }
};

/// The mean step score.
struct reduce_mean {
  [[nodiscard]] double operator()(std::span<const double> scores) const {
    detail::check_step_scores(scores, "reduce_mean");
    double sum = 0.0;
    for (const double s : scores) sum += s;
    return sum / static_cast<double>(scores.size());
  }
};

/// The step reductions as a runtime value (command lines, the evaluation grid).
enum class step_reduction : std::uint8_t { last, min, prod, mean };

/// The reduction's name, e.g. "last".
[[nodiscard]] constexpr std::string_view to_string(step_reduction r) noexcept {
  switch (r) {
  case step_reduction::last: return "last";
  case step_reduction::min: return "min";
  case step_reduction::prod: return "prod";
  case step_reduction::mean: return "mean";
  }
  return "unknown";
}

/// The reduction named `name` ("last", "min", "prod", "mean"), or nullopt.
[[nodiscard]] constexpr std::optional<step_reduction> parse_step_reduction(std::string_view name) noexcept {
  if (name == "last") return step_reduction::last;
  if (name == "min") return step_reduction::min;
  if (name == "prod") return step_reduction::prod;
  if (name == "mean") return step_reduction::mean;
  return std::nullopt;
}

/// Reduces `scores` with the reduction chosen at run time; errors as the policies'.
[[nodiscard]] inline double reduce_steps(step_reduction r, std::span<const double> scores) {
  switch (r) {
  case step_reduction::last: return reduce_last{}(scores);
  case step_reduction::min: return reduce_min{}(scores);
  case step_reduction::prod: return reduce_prod{}(scores);
  case step_reduction::mean: return reduce_mean{}(scores);
  }
  detail::require(false, "reduce_steps: unknown step_reduction");
  return 0.0;
}

} // namespace reckon
