// SPDX-License-Identifier: Apache-2.0
// Shared by the strategy tests: synthetic suites, an accuracy runner, and misbehaving models.
#pragma once

#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/strategy/result.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <support/catch.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace reckon::test {

/// A suite of `size` problems named `name`, shared by the models built over it.
inline std::shared_ptr<const testing::suite> shared_suite(const char* name, std::size_t size) {
  return std::make_shared<const testing::suite>(testing::make_suite(name, testing::default_suite_seed, size).value());
}

/// The same suite drawn under the `lenient` parameter set (no traps; with testing::lenient_params(),
/// every path of a problem takes its K steps): for tests whose call and step counts rely on that,
/// and for the papers' claims as first measured on the lenient instrument (README gives both).
inline std::shared_ptr<const testing::suite> lenient_suite(const char* name, std::size_t size) {
  return std::make_shared<const testing::suite>(
      testing::make_suite(name, testing::default_suite_seed, size, testing::parameter_set::lenient).value());
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

/// A sampling model that returns one completion more than asked.
struct long_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t n) {
    sample_batch b;
    completion c;
    c.text = "\\boxed{1}";
    c.tokens = 3;
    b.completions.assign(n + 1, c);
    b.usage.engine_calls = 1;
    return b;
  }
};

/// A sampling model that returns `texts` in order, one per completion asked for, across calls
/// (cycling when they run out); each completion costs `tokens` generated tokens and each call
/// `prefill` prefilled ones. It records the size of every request.
struct script_sampler {
  using reckon_model_concept = sampling_model_tag;
  std::vector<std::string> texts;
  std::uint64_t tokens = 1;
  std::uint64_t prefill = 0;
  std::size_t next = 0;
  std::vector<std::uint32_t> requests;

  result<sample_batch> sample(const problem&, const sampling_params&, std::uint32_t n) {
    requests.push_back(n);
    sample_batch b;
    for (std::uint32_t i = 0; i < n; ++i) {
      completion c;
      c.text = texts[next++ % texts.size()];
      c.tokens = tokens;
      c.source = i;
      b.completions.push_back(std::move(c));
    }
    b.usage.generated_tokens = tokens * n;
    b.usage.prefilled_tokens = prefill;
    b.usage.engine_calls = 1;
    return b;
  }
};

/// `\boxed{<answer>}` for each answer, in order: the texts of a script_sampler.
inline std::vector<std::string> boxed(const std::vector<std::string>& answers) {
  std::vector<std::string> out;
  out.reserve(answers.size());
  for (const auto& a : answers) out.push_back("\\boxed{" + a + "}");
  return out;
}

/// A reward model (process and outcome) that scores a candidate by its whole text: `score[text]`
/// for every step and for the outcome (`otherwise` for a text not listed). It counts its calls.
struct script_scorer {
  using reckon_model_concept = capabilities<process_reward_model_tag, outcome_reward_model_tag>;
  std::map<std::string, double> score;
  double otherwise = 0.5;
  int calls = 0;

  [[nodiscard]] double of(const solution_view& v) const {
    std::string text;
    for (const auto& s : v.steps) text += s;
    const auto it = score.find(text);
    return it == score.end() ? otherwise : it->second;
  }
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> c) {
    ++calls;
    std::vector<std::vector<double>> out;
    for (const auto& v : c) out.emplace_back(v.steps.size(), of(v));
    return out;
  }
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> c) {
    ++calls;
    std::vector<double> out;
    for (const auto& v : c) out.push_back(of(v));
    return out;
  }
};

} // namespace reckon::test
