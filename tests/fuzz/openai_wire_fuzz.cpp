// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the OpenAI wire reader (include/reckon/adapters/detail/openai_wire.hpp) on any
// response body, in both endpoints, then to_completion on every choice with the statistics a
// request may ask for. The reader must answer with a value or an error, never throw; to_completion
// may only throw reckon::exception (the adapter turns it into an engine_failure), and what it
// returns has the shape the statistics promise.
#include <reckon/adapters/detail/openai_wire.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <utility>

namespace {

namespace wire = reckon::openai::detail;

void check_completion(const reckon::completion& c, const reckon::adapters::detail::stats_request& want,
                      bool has_token_list) {
  const std::size_t tokens = c.tokens;
  if (!has_token_list) {
    if (!c.stats.logprob.empty() || !c.stats.entropy.empty() || !c.stats.top_logprobs.empty()) std::abort();
    return;
  }
  if (want.logprob && c.stats.logprob.size() != tokens) std::abort();
  if (want.entropy && (c.stats.entropy.size() != tokens || c.stats.varentropy.size() != tokens)) std::abort();
  // A row to_completion accepted is a distribution: its entropy and varentropy are finite, >= 0.
  for (std::size_t t = 0; t < c.stats.entropy.size(); ++t)
    if (!std::isfinite(c.stats.entropy[t]) || c.stats.entropy[t] < -1e-4F || !std::isfinite(c.stats.varentropy[t]) ||
        c.stats.varentropy[t] < -1e-4F)
      std::abort();
  if (want.top_k > 0 && (c.stats.top_k != want.top_k || c.stats.top_logprobs.size() != tokens * want.top_k))
    std::abort();
}

void check(std::string_view body, reckon::openai::api endpoint, const reckon::adapters::detail::stats_request& want,
           std::uint32_t hint) {
  auto parsed = wire::parse_response(body, endpoint);
  if (!parsed) {
    if (parsed.error().code != reckon::errc::engine_failure) std::abort();
    return;
  }
  if (parsed->cached_tokens > parsed->prompt_tokens) std::abort();
  for (std::size_t i = 1; i < parsed->choices.size(); ++i)
    if (parsed->choices[i - 1].index >= parsed->choices[i].index) std::abort(); // sorted, distinct
  for (auto& choice : parsed->choices) {
    const bool listed = choice.has_token_list;
    if (listed && choice.top.size() != choice.logprob.size()) std::abort();
    try {
      const reckon::completion c = wire::to_completion(std::move(choice), want, hint);
      check_completion(c, want, listed);
    } catch (const reckon::exception&) {
      // A row that is not a distribution: the adapter reports it as the engine's failure.
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte picks the statistics a request asked for and the token hint; the rest is the body.
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  reckon::adapters::detail::stats_request want;
  want.logprob = (mode & 1U) != 0;
  want.entropy = (mode & 2U) != 0;
  want.top_k = (mode >> 2U) & 7U; // 0..7
  const std::uint32_t hint = mode >> 5U;
  check(body, reckon::openai::api::completions, want, hint);
  check(body, reckon::openai::api::chat_completions, want, hint);
  return 0;
}
