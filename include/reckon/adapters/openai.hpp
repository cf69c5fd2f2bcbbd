// SPDX-License-Identifier: Apache-2.0
// reckon::openai::model: a sampling + logprob model over any OpenAI-compatible server (vLLM, SGLang, llama-server).
#pragma once

// Opt-in: link reckon::openai (created only when cpp-httplib and nlohmann_json are found).
// reckon/reckon.hpp never includes this header.

#include <reckon/adapters/detail/openai_client.hpp>
#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/adapters/detail/stats.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace reckon::openai {

/// A sampling + logprob model over an OpenAI-compatible HTTP server.
///
/// sample(problem, params, n) sends problem.prompt to /v1/completions (or as one user message to
/// /v1/chat/completions), splitting n into requests of at most `max_n_per_request` completions,
/// with at most `max_in_flight` requests in flight. A request that gets a 429 or a 5xx, or whose
/// connection fails or drops, is retried up to `max_retries` times with exponential backoff
/// (honouring Retry-After); a request that returns fewer choices than asked is followed by one
/// for the rest. Token statistics are read from any of the three logprob shapes (legacy
/// completions, chat `content[]`, llama-server's chat-shaped completions); entropy and varentropy
/// are estimated from the top-`logprob_top_k` logprobs (`full_logits` is false).
///
/// Seeds: a request carrying completions [i, i + k) is sent seed request_seed(params.seed, i)
/// (31 bits of it); the server derives its choices' seeds from it, so completion i depends on the
/// split unless `one_request_per_completion` is set.
///
/// Deterministic failures: some 5xx follow the seed, not the load (llama-server's HTTP 500 "The
/// model produced output that does not match the expected ... format" fails the same request every
/// time). A 5xx whose body repeats the previous attempt's is not retried again. Its request is
/// re-sent as n = 1 requests (completion i with its own seed request_seed(params.seed, i)), so the
/// other completions are kept; a single completion that still fails so is re-requested with the
/// derived seeds request_seed(request_seed(params.seed, i), r) for r = 1 .. max_reseeds (counted in
/// totals().reseeded: that completion no longer follows params.seed alone); after those the call
/// fails with the server's status and body.
///
/// A choice with no per-token list though statistics were asked for (llama-server sends
/// "logprobs": null when a stop string ends the first token) has tokens = 0 and empty statistics,
/// so the two always have the same length; its tokens are still counted in usage. With stop
/// strings sent, a choice that llama-server reports as "stop" without naming the string is a
/// stop-string finish when (a lone choice) its per-token list is shorter than its token count (the
/// server drops the stop string's tokens) or missing; when (one of several choices, whose counts
/// are not reported per choice) it has no per-token list while another choice has one, or its
/// listed token strings spell less than its text (the stop string cut a token, whose entry was
/// dropped). A stop string that ends exactly at a token boundary in a several-choice response
/// leaves no such trace and stays eos (measured on llama-server with the test model and stop
/// strings "e", "a", n = 4: 16 of 16 stop finishes found, 0 before).
///
/// Usage: `engine_calls` counts accepted responses; `prefilled_tokens` sums each response's
/// prompt_tokens less its cached_tokens (llama-server: its timings.prompt_n, the prompt tokens it
/// evaluated); `generated_tokens` sums the completions' token counts
/// (exact from the per-token list; otherwise usage.completion_tokens split over the response's
/// choices in proportion to their characters). Failed attempts cost nothing in usage.
///
/// Errors never contain client_params.api_key (a server echoing it has it replaced by "[api_key]").
///
/// Thread safety: sample() may run on several threads at once (each call opens its own
/// connections and keeps its own state; the counters are under a mutex): openai::reviser's fan-out
/// relies on it. Moving a model, or calling anything while it moves, is one thread's. A model is
/// movable (not copyable).
class model {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
  /// Widest top-k of logprobs served (OpenAI's cap; vLLM and llama-server allow at least this).
  static constexpr std::uint32_t logprob_top_k = 20;
  /// Entropy and varentropy are estimated from the top-k logprobs.
  static constexpr bool full_logits = false;

  /// A model talking to `params.url`. Throws reckon::exception (invalid_argument) for an empty or
  /// non-http(s) URL (https where cpp-httplib has no TLS), a zero cap, or a non-positive or
  /// non-finite timeout or negative backoff.
  explicit model(client_params params) : transport_(std::move(params)), path_(transport_.path(transport_.params().endpoint)) {}

  /// n completions of problem.prompt, in order, and their usage.
  /// @returns the completions, or: invalid_argument (params fail validate(), n == 0, top_k above
  ///   logprob_top_k); timeout (a request got no answer within timeout_seconds); engine_failure
  ///   (a 4xx other than 429, a 429/5xx/connection error that outlived max_retries, a malformed
  ///   body, or a server that returned more choices than asked or none), with the status and an
  ///   excerpt of the body. On error no completion is returned; counters() keeps what was done.
  result<sample_batch> sample(const problem& prob, const sampling_params& params, std::uint32_t n) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (n == 0) return fail(errc::invalid_argument, "openai::model::sample: n must be > 0");
    if (params.stats.top_k > logprob_top_k)
      return fail(errc::invalid_argument, "openai::model::sample: stats.top_k exceeds logprob_top_k (20)");

    const adapters::detail::stats_request want{params.stats.logprobs, params.stats.entropy, params.stats.top_k};
    const std::uint32_t wire_k = detail::wire_top_k(want, transport_.params().exact_token_counts, logprob_top_k);

    // Chunks of consecutive completions, one request each (more if the server returns fewer).
    const std::uint32_t per = transport_.params().one_request_per_completion ? 1U : transport_.params().max_n_per_request;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> chunks; // {first, count}
    for (std::uint32_t first = 0; first < n; first += per) chunks.emplace_back(first, std::min(per, n - first));

    call_state state;
    state.out.resize(n);
    std::vector<reckon::usage> chunk_usage(chunks.size());
    auto failed = transport_.for_each(chunks.size(), [&](httplib::Client& client, std::size_t c) {
      return run_chunk(client, prob, params, want, wire_k, chunks[c].first, chunks[c].second, state, chunk_usage[c]);
    });
    if (failed) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      return transport_.redact(std::move(*failed));
    }
    sample_batch batch;
    batch.completions = std::move(state.out);
    for (const auto& u : chunk_usage) batch.usage += u;
    return batch;
  }

  /// What this model has done so far (all calls, failed ones included).
  [[nodiscard]] counters totals() const { return transport_.totals(); }

  /// The parameters this model was built with.
  [[nodiscard]] const client_params& params() const noexcept { return transport_.params(); }

private:
  struct call_state {
    std::vector<completion> out;
  };

  // Completions [first, first + count): requests until all have arrived or one fails for good.
  result<void> run_chunk(httplib::Client& client, const problem& prob, const sampling_params& params,
                         const adapters::detail::stats_request& want, std::uint32_t wire_k, std::uint32_t first,
                         std::uint32_t count, call_state& state, reckon::usage& used) {
    std::uint32_t got = 0;
    bool alone = false;      // after a deterministic failure: one completion per request
    std::uint32_t reseed = 0; // derived seeds tried for the completion at `got`
    while (got < count) {
      const std::uint32_t ask = alone ? 1U : count - got;
      const std::uint64_t own = request_seed(params.seed, first + got);
      const std::uint64_t seed = reseed == 0 ? own : request_seed(own, reseed);
      const auto& cp = transport_.params();
      const std::string body = detail::request_body(cp.endpoint, cp.model, prob.prompt, params, ask, seed, wire_k).dump();
      bool deterministic = false;
      auto response = transport_.post(client, path_, body, &deterministic, ask);
      if (!response) {
        if (!deterministic) return response.error();
        if (ask > 1) { // find the completion that fails: the others are good work
          alone = true;
          transport_.count([](counters& t) { ++t.isolated; });
          continue;
        }
        if (reseed >= transport_.params().max_reseeds) {
          reckon::error e = response.error();
          e.message += " (the same failure for completion " + std::to_string(first + got) + " alone and with " +
                       std::to_string(reseed) + " derived seeds)";
          return e;
        }
        ++reseed;
        if (reseed == 1) transport_.count([](counters& t) { ++t.reseeded; });
        continue;
      }
      auto parsed = detail::parse_response(*response, transport_.params().endpoint);
      if (!parsed) return parsed.error();
      auto& choices = parsed->choices;
      if (choices.empty()) return fail(errc::engine_failure, "server returned no choices: " + detail::excerpt(*response));
      if (choices.size() > ask)
        return fail(errc::engine_failure, "server returned " + std::to_string(choices.size()) + " choices for n = " +
                                              std::to_string(ask) + ": " + detail::excerpt(*response));
      const auto hints = token_hints(*parsed);
      const bool lists_served = std::any_of(choices.begin(), choices.end(), [](const auto& ch) { return ch.has_token_list; });
      reckon::usage u;
      u.engine_calls = 1;
      u.prefilled_tokens = parsed->prefilled();
      for (std::size_t i = 0; i < choices.size(); ++i) {
        const bool listed = choices[i].has_token_list;
        const std::size_t listed_tokens = choices[i].logprob.size();
        const bool stop_named = choices[i].stop_reason_listed;
        bool cut_token = false; // the listed tokens spell a strict prefix of the text: a stop string cut the next one
        if (listed && choices[i].token_strings) {
          std::string spelled;
          for (const auto& t : choices[i].tokens) spelled += t;
          cut_token = spelled.size() < choices[i].text.size() && choices[i].text.compare(0, spelled.size(), spelled) == 0;
        }
        completion c;
        try {
          c = detail::to_completion(std::move(choices[i]), want, hints[i]);
        } catch (const reckon::exception& e) {
          return fail(errc::engine_failure, "malformed logprobs (" + e.error().message + "): " + detail::excerpt(*response));
        }
        // llama-server names no stop string, and drops a stop string's tokens from the per-token
        // list (sending "logprobs": null when it took every token): with stop strings sent, a
        // lone choice whose list is shorter than its count, or missing though asked for, ended
        // at a stop string, not at EOS.
        if (!params.stop.empty() && c.finish == finish_reason::eos && !stop_named && wire_k > 0) {
          const std::uint64_t n_reported = parsed->completion_tokens.value_or(0);
          const bool at_stop = choices.size() == 1 ? (listed ? n_reported > listed_tokens : n_reported > 0)
                                                   : (listed ? cut_token : lists_served);
          if (at_stop || cut_token) c.finish = finish_reason::stop;
        }
        // Without a per-token list there are no statistics: a completion that asked for them
        // reports 0 tokens, so that its tokens and its statistics keep the same length; the
        // server's count still goes to usage.
        // A lone choice's reported count also covers a stop string's tokens the list leaves out.
        const std::uint64_t reported = choices.size() == 1 ? parsed->completion_tokens.value_or(0) : 0;
        u.generated_tokens += std::max<std::uint64_t>(c.tokens, reported);
        if (!listed && !want.none()) c.tokens = 0;
        c.source = first + got + i;
        state.out[first + got + i] = std::move(c);
      }
      got += static_cast<std::uint32_t>(choices.size());
      reseed = 0;
      used += u;
      transport_.accept(u, parsed->prompt_tokens);
    }
    return {};
  }

  // Token counts for choices without a per-token list: usage.completion_tokens split by characters.
  // llama-server counts only the first choice in usage.completion_tokens (3.3x under-reported at
  // n = 4 on the test model): when the reported count is nearer (in ratio) to the first choice's
  // estimate than to all choices' estimates, it is read as the first choice's count and the others
  // are scaled by their characters against the first's. Estimates are reckon's chars / 4.
  static std::vector<std::uint32_t> token_hints(const detail::parsed_response& r) {
    std::vector<std::uint32_t> hints(r.choices.size(), 0);
    auto estimate = [](std::size_t chars) { return static_cast<std::uint32_t>((chars + 3) / 4); };
    if (!r.completion_tokens) {
      for (std::size_t i = 0; i < hints.size(); ++i) hints[i] = estimate(r.choices[i].text.size());
      return hints;
    }
    std::uint64_t chars = 0;
    for (const auto& c : r.choices) chars += c.text.size();
    const std::uint64_t reported = *r.completion_tokens;
    if (first_choice_only(r, reported, chars)) {
      const double first_chars = static_cast<double>(r.choices[0].text.size());
      for (std::size_t i = 0; i < hints.size(); ++i)
        hints[i] = i == 0 ? static_cast<std::uint32_t>(reported)
                          : static_cast<std::uint32_t>(std::llround(static_cast<double>(reported) *
                                                                    static_cast<double>(r.choices[i].text.size()) / first_chars));
      return hints;
    }
    std::uint64_t left = reported;
    for (std::size_t i = 0; i < hints.size(); ++i) {
      const std::uint64_t share = i + 1 == hints.size() ? left
                                  : chars == 0           ? reported / hints.size()
                                                         : reported * r.choices[i].text.size() / chars;
      hints[i] = static_cast<std::uint32_t>(std::min(share, left));
      left -= hints[i];
    }
    return hints;
  }

  // Whether `reported` completion tokens look like the first choice's alone (see token_hints).
  static bool first_choice_only(const detail::parsed_response& r, std::uint64_t reported, std::uint64_t chars) {
    if (r.choices.size() < 2 || reported == 0) return false;
    const std::size_t first = r.choices[0].text.size();
    if (first == 0 || chars <= first) return false;
    const double per_char = 0.25; // reckon's estimate: 4 characters a token
    const double first_estimate = per_char * static_cast<double>(first);
    const double all_estimate = per_char * static_cast<double>(chars);
    const double x = std::log(static_cast<double>(reported));
    return std::abs(x - std::log(first_estimate)) < std::abs(x - std::log(all_estimate));
  }

  detail::transport transport_;
  std::string path_; // e.g. /v1/completions
};

} // namespace reckon::openai
