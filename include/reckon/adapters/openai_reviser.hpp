// SPDX-License-Identifier: Apache-2.0
// reckon::openai::reviser: the reviser capability over any OpenAI-compatible sampling model, by a revision prompt.
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// A prompted reviser (PRISM's refinement move, the sequential revisions of Snell et al. 2024) whose
// revisions are requests to a server: each revision_request becomes one prompt, rendered by
// reckon::revision_prompt (prompted_reviser.hpp, which says what the prompt takes from PRISM and
// from Snell et al. and where it deviates), sent to the served model as openai::model sends any
// prompt (as the prompt of /v1/completions or as one user message of /v1/chat/completions) and
// sampled once. Unlike reckon::prompted_reviser over an openai::model, the requests of one revise
// call go out concurrently, up to client_params.max_in_flight.

#include <reckon/adapters/openai.hpp>
#include <reckon/adapters/prompted_reviser.hpp>
#include <reckon/concepts/reviser.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How a reviser words its prompt (reckon::revision_prompt_params, shared with reckon::prompted_reviser).
using reviser_params = reckon::revision_prompt_params;

/// The reviser capability (and sampling, for strategies that sample and revise with one model)
/// over an openai::model.
///
/// revise(problem, requests, params) builds one prompt per request (render()), samples it once
/// with `params` and seed = the request's seed (max_tokens, temperature, stop and statistics as
/// given), at most client_params.max_in_flight requests at once, and returns the completions in
/// request order (completion i has source i) with the summed usage. It fails, with no completion,
/// if any request fails (the first failing request's error, after the request layer's retries), or
/// with invalid_argument for bad sampling params or feedback of the wrong length or out of [0, 1].
///
/// sample(problem, params, n) is openai::model::sample.
///
/// Cost: one request per revision, each prefilling its prompt (the candidate, the history and the
/// feedback). totals() are the model's counters.
///
/// Thread safety: one thread at a time per reviser (its revise fans out over openai::model::sample,
/// which may run on several threads at once; see openai::model). Movable.
class reviser {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag, reviser_tag>;
  static constexpr std::uint32_t logprob_top_k = model::logprob_top_k; ///< as openai::model's
  static constexpr bool full_logits = model::full_logits;              ///< as openai::model's

  /// A reviser over the server at `client.url`. Throws reckon::exception (invalid_argument) for bad
  /// client parameters (as openai::model) or bad params (as reckon::revision_prompt: a threshold
  /// outside [0, 1], an unknown placeholder, an unmatched brace in a placeholder, or no {candidate}).
  reviser(client_params client, reviser_params params) : model_(std::move(client)), prompt_(std::move(params)) {}
  explicit reviser(client_params client) : reviser(std::move(client), reviser_params{}) {}

  /// openai::model::sample.
  result<sample_batch> sample(const problem& p, const sampling_params& params, std::uint32_t n) { return model_.sample(p, params, n); }

  /// One revised completion per request, in order (see the class notes).
  result<sample_batch> revise(const problem& p, std::span<const revision_request> requests, const sampling_params& params) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (auto ok = revision_prompt::check("openai::reviser", requests); !ok) return ok.error();
    std::vector<std::string> prompts;
    prompts.reserve(requests.size());
    for (const auto& q : requests) prompts.push_back(prompt_.render(p, q));
    std::vector<std::optional<sample_batch>> got(requests.size());
    // Each sample opens its own connections: the workers keep no state of their own.
    auto failed = detail::bounded_for_each(requests.size(), model_.params().max_in_flight, "openai::reviser: ",
                                           [] { return 0; }, [&](int&, std::size_t i) -> result<void> {
                                             sampling_params sp = params;
                                             sp.seed = requests[i].seed;
                                             auto r = model_.sample(problem{p.id, prompts[i]}, sp, 1);
                                             if (!r) return r.error();
                                             got[i] = std::move(r.value());
                                             return {};
                                           });
    if (failed) return *failed;
    sample_batch out;
    out.completions.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto& batch = *got[i];
      if (batch.completions.size() != 1)
        return fail(errc::engine_failure, fmt::format("openai::reviser: request {} came back with {} completions", i,
                                                      batch.completions.size()));
      completion c = std::move(batch.completions[0]);
      c.source = i;
      out.completions.push_back(std::move(c));
      out.usage += batch.usage;
    }
    return out;
  }

  /// The prompt revise sends for `q` (see reviser_params for the pieces).
  [[nodiscard]] std::string render(const problem& p, const revision_request& q) const { return prompt_.render(p, q); }

  /// The model's counters (every request of every sample and revise call).
  [[nodiscard]] counters totals() const { return model_.totals(); }
  [[nodiscard]] const reviser_params& params() const noexcept { return prompt_.params(); }
  [[nodiscard]] const client_params& client() const noexcept { return model_.params(); }

private:
  model model_;
  revision_prompt prompt_;
};

} // namespace reckon::openai
