// SPDX-License-Identifier: Apache-2.0
// Archetypes: the smallest adapter that satisfies each capability concept. Read them to write your
// own; reckon's tests check them against the concepts.
#pragma once

#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/introspective_model.hpp>
#include <reckon/concepts/logprob_model.hpp>
#include <reckon/concepts/outcome_reward_model.hpp>
#include <reckon/concepts/process_reward_model.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/sampling_model.hpp>
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/stepping_model.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace reckon::archetypes {

/// sampling_model: every completion is the same canned text.
struct sampling_model {
  using reckon_model_concept = sampling_model_tag;
  result<sample_batch> sample(const problem&, const sampling_params& params, std::uint32_t n) {
    if (auto ok = validate(params); !ok) return ok.error();
    sample_batch out;
    completion c;
    c.text = "The answer is \\boxed{42}.";
    c.tokens = 8;
    out.completions.assign(n, c);
    out.usage = {.prefilled_tokens = 0, .generated_tokens = 8ULL * n, .engine_calls = 1};
    return out;
  }
};

/// stepping_model: sequences are slots; every step is the final one.
struct stepping_model {
  using reckon_model_concept = stepping_model_tag;
  using sequence = std::uint32_t;
  result<sequence> begin(const problem&) { return next_++; }
  result<sequence> fork(sequence) { return next_++; }
  void release(sequence) noexcept {}
  result<step_batch> extend(std::span<const sequence> seqs, const step_params&, std::span<const std::uint64_t> seeds) {
    if (seqs.size() != seeds.size()) return fail(errc::invalid_argument, "one seed per sequence");
    step_batch out;
    step s;
    s.text = "\\boxed{42}";
    s.tokens = 4;
    s.finish = finish_reason::eos;
    s.done = true;
    out.steps.assign(seqs.size(), s);
    out.usage = {.prefilled_tokens = 0, .generated_tokens = 4 * seqs.size(), .engine_calls = 1};
    return out;
  }

private:
  sequence next_ = 0;
};

/// logprob_model: a sampling model that also promises token statistics when asked.
struct logprob_model : sampling_model {
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
  static constexpr std::uint32_t logprob_top_k = 20;
};

/// process_reward_model: every step scores 0.5.
struct process_reward_model {
  using reckon_model_concept = process_reward_model_tag;
  result<std::vector<std::vector<double>>> score_steps(const problem&, std::span<const solution_view> candidates) {
    std::vector<std::vector<double>> out;
    for (const auto& c : candidates) out.emplace_back(c.steps.size(), 0.5);
    return out;
  }
};

/// outcome_reward_model: every solution scores 0.5.
struct outcome_reward_model {
  using reckon_model_concept = outcome_reward_model_tag;
  result<std::vector<double>> score_outcomes(const problem&, std::span<const solution_view> candidates) {
    return std::vector<double>(candidates.size(), 0.5);
  }
};

/// reviser: returns each candidate unchanged, as one completion (feedback and history unread).
struct reviser {
  using reckon_model_concept = reviser_tag;
  result<sample_batch> revise(const problem&, std::span<const revision_request> requests, const sampling_params&) {
    sample_batch out;
    for (const auto& r : requests) {
      completion c;
      for (const auto& s : r.candidate.steps) c.text += s;
      out.completions.push_back(std::move(c));
    }
    out.usage.engine_calls = 1;
    return out;
  }
};

/// introspective_model: a stepping model whose every sequence predicts reward 1 with 0 tokens left.
struct introspective_model : stepping_model {
  using reckon_model_concept = capabilities<stepping_model_tag, introspective_model_tag>;
  result<introspection> introspect(std::span<const sequence> seqs) {
    introspection out{.reward_values = {0.0, 1.0}, .remaining_lengths = {0.0}, .joint = {}};
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      detail::table2d q = xt::zeros<double>({std::size_t{2}, std::size_t{1}});
      q(1, 0) = 1.0;
      out.joint.push_back(std::move(q));
    }
    return out;
  }
};

/// self_rating_model: a stepping model that plans one step and rates every step 0.5.
struct self_rating_model : stepping_model {
  using reckon_model_concept = capabilities<stepping_model_tag, self_rating_model_tag>;
  result<difficulty_ratings> rate_plan(const problem&, std::uint64_t) {
    return difficulty_ratings{.difficulty = {0.5}, .usage = {.prefilled_tokens = 0, .generated_tokens = 2, .engine_calls = 1}};
  }
  result<difficulty_ratings> rate_next(std::span<const sequence> seqs, std::span<const std::uint64_t> seeds) {
    if (seqs.size() != seeds.size()) return fail(errc::invalid_argument, "one seed per sequence");
    return difficulty_ratings{.difficulty = std::vector<double>(seqs.size(), 0.5),
                              .usage = {.prefilled_tokens = 0, .generated_tokens = 2 * seqs.size(), .engine_calls = 1}};
  }
};

/// embedding_model: every text's vector is its length and 1 (texts of one length share a direction).
struct embedding_model {
  using reckon_model_concept = embedding_model_tag;
  result<embedding_batch> embed(std::span<const std::string> texts) {
    embedding_batch out;
    out.dimension = 2;
    for (const auto& t : texts) {
      out.values.push_back(static_cast<float>(t.size()));
      out.values.push_back(1.0F);
      out.usage.prefilled_tokens += t.size();
    }
    out.usage.engine_calls = 1;
    return out;
  }
};

} // namespace reckon::archetypes
