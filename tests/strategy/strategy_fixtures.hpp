// SPDX-License-Identifier: Apache-2.0
// Shared by the strategy tests: synthetic suites, an accuracy runner, and misbehaving models.
#pragma once

#include <reckon/concepts/sampling_model.hpp>
#include <reckon/strategy/result.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <support/catch.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace reckon::test {

/// A suite of `size` problems named `name`, shared by the models built over it.
inline std::shared_ptr<const testing::suite> shared_suite(const char* name, std::size_t size) {
  return std::make_shared<const testing::suite>(testing::make_suite(name, testing::default_suite_seed, size).value());
}

/// Accuracy and mean cost of running `run(model, problem, stream)` over every problem.
struct sweep {
  double accuracy = 0.0;
  double mean_generated = 0.0;
  double mean_total = 0.0;
  std::size_t problems = 0;
};

template <class Run>
sweep run_suite(const testing::suite& s, Run&& run, std::uint64_t seed = 1) {
  sweep out;
  for (const auto& q : s.problems) {
    const problem p = q.as_problem();
    const random_stream stream(stream_key{.seed = seed, .problem = p.id});
    const result<strategy_result> r = run(p, stream);
    REQUIRE(r.has_value());
    out.accuracy += (r->answer && *r->answer == q.gold) ? 1.0 : 0.0;
    out.mean_generated += static_cast<double>(r->cost.generated_tokens);
    out.mean_total += static_cast<double>(r->cost.total_tokens());
    ++out.problems;
  }
  const double n = static_cast<double>(out.problems);
  out.accuracy /= n;
  out.mean_generated /= n;
  out.mean_total /= n;
  return out;
}

/// A sampling model that fails every call.
struct failing_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t) {
    return fail(errc::engine_failure, "the engine is down");
  }
};

/// A sampling model that throws.
struct throwing_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t) {
    throw std::runtime_error("segfault avoided");
  }
};

/// A sampling model that returns one completion fewer than asked.
struct short_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t n) {
    sample_batch b;
    for (std::uint32_t i = 0; i + 1 < n; ++i) {
      completion c;
      c.text = "\\boxed{1}";
      c.tokens = 3;
      b.completions.push_back(c);
    }
    b.usage.engine_calls = 1;
    return b;
  }
};

/// A sampling model whose completions contain no answer.
struct mute_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t n) {
    sample_batch b;
    completion c;
    c.text = "I am not sure.";
    c.tokens = 4;
    b.completions.assign(n, c);
    b.usage.generated_tokens = 4ULL * n;
    b.usage.engine_calls = 1;
    return b;
  }
};

} // namespace reckon::test
