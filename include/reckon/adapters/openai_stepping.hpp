// SPDX-License-Identifier: Apache-2.0
// reckon::openai::stepping_model: a stepping + logprob model over /v1/completions of any OpenAI-compatible server.
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// How it maps reckon's stepping model onto a stateless HTTP API:
// - a sequence is client state: its text as a persistent list of chunks (the prompt, then one chunk
//   per step) shared through shared_ptr, so fork copies one pointer and no history is copied;
//   release drops the handle;
// - extend sends each live sequence's whole text (prompt + steps so far) as one /v1/completions
//   request (none for a sequence already at max_total_tokens: it ends with an empty step) with
//   n = 1, stop = [the delimiter], max_tokens = min(max_step_tokens, what is left of
//   max_total_tokens) and seed = the sequence's seed, at most max_in_flight at once, through the
//   shared request layer (retries, the deterministic-5xx rule with derived seeds, timeouts, TLS);
// - the server's prefix cache (vLLM/SGLang automatic prefix caching, llama-server's prompt cache)
//   is what makes re-sending the prefix cheap, and the ledger measures it: prefilled tokens are what
//   each response reports it did not have cached (llama-server's timings.prompt_n, otherwise
//   usage.prompt_tokens - prompt_tokens_details.cached_tokens), never assumed;
// - a server's context is a cap on a sequence's length like max_total_tokens. llama-server gives
//   each slot --ctx-size / --parallel tokens; a step that reaches it comes back cut ("length"), and
//   the next request of that sequence is refused with HTTP 400 exceed_context_size_error. That
//   refusal ends the sequence as the cap does (an empty step, finish = length, done; counted in
//   totals().context_full), so where a path ends does not depend on whether the context filled
//   mid-step or at a step boundary. It is an error (engine_failure naming -c and -np) only when the
//   sequence has no step yet: then the problem's prompt alone does not fit and nothing can be
//   searched. Only llama-server's body is recognised; other servers' context errors stay errors.
//
// Deliberate deviation from the issue: prompts are sent as text, not token ids. vLLM returns token
// ids only with return_tokens_as_token_ids and takes no mixed text/id prompt, llama-server drops the
// delimiter's tokens (ids included) from the per-token list, and the prompt's own ids would need a
// /tokenize round trip per server dialect. So a step boundary can re-tokenise differently from how
// it was generated (a token split across the boundary); that costs a few cache misses at the
// boundary, which the ledger shows.

#include <reckon/adapters/detail/openai_client.hpp>
#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/adapters/detail/stats.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace reckon::openai {

/// A stepping + logprob model over an OpenAI-compatible server's /v1/completions
/// (client_params::endpoint is ignored: a step continues raw text).
///
/// extend(seqs, params, seeds) sends one request per sequence (see the header's notes) and appends
/// what came back:
/// - the server stopped at the delimiter: finish = step; the step's text is the returned text plus
///   the delimiter (servers strip the stop string). Which "stop" it was is read from vLLM's
///   stop_reason or SGLang's matched_stop (the string: the delimiter; a token id or null: EOS). For
///   llama-server, which says neither, a "stop" whose usage.completion_tokens exceeds the per-token
///   list is the delimiter (llama-server drops the stop string's tokens from that list), as is a
///   "stop" with "logprobs": null when logprobs were asked (the stop string took every token), and
///   one whose counts agree is EOS (read from llama-server's source, not yet checked against a
///   running llama-server). A server that says neither and ignores logprobs has every "stop" read
///   as the delimiter: its sequences then end by max_total_tokens or the strategy's step cap;
/// - a delimiter split across a step cut by its token cap ("\n" | "\n") is found on the client,
///   since a server searches only the text it generates: the step ends there and the rest of
///   what came back is dropped (its tokens stay in usage);
/// - EOS: finish = eos, done;
/// - "length": finish = length; done when the sequence reached max_total_tokens;
/// - reaching max_total_tokens finishes the sequence whatever ended the step (as llama_cpp does);
///   a sequence already at it (the cap lowered since its last step) gets an empty step, finish =
///   length, done, without a request (as the synthetic model does);
/// - a sequence with at least one step whose next request does not fit llama-server's context
///   (HTTP 400 exceed_context_size_error): an empty step, finish = length, done, usage zero.
///
/// Tokens: usage.generated_tokens is the server's count (usage.completion_tokens; the per-token
/// list's length where it is longer; characters / 4 where the server reports neither). A step's
/// `tokens` equals the length of its statistics when statistics are asked for (so on llama-server
/// a delimiter's dropped tokens are in usage but not in the step), the server's count otherwise.
///
/// Usage: engine_calls counts accepted HTTP responses (one per sequence per extend, not one per
/// extend: each is a separate engine request); prefilled_tokens as above; totals().prompt_tokens
/// sums all prompt tokens sent, so 1 - delivered.prefilled_tokens / prompt_tokens is the prefix
/// cache's measured saving. Sequences are client state: there is no capacity limit and fork never
/// fails for lack of a slot.
///
/// Errors: on any error no sequence changes (the call is all or nothing); what the server did is
/// still in totals().delivered. Errors never contain client_params.api_key.
///
/// Thread safety: one thread at a time; extend fans out on its own threads. Movable, not copyable.
class stepping_model {
public:
  using reckon_model_concept = capabilities<stepping_model_tag, logprob_model_tag>;
  /// A sequence handle: an id into the client's table (never reused).
  using sequence = std::uint64_t;
  /// Widest top-k of logprobs served.
  static constexpr std::uint32_t logprob_top_k = 20;
  /// Entropy and varentropy are estimated from the top-k logprobs.
  static constexpr bool full_logits = false;

  /// A model talking to `params.url`; throws reckon::exception (invalid_argument) as openai::model.
  explicit stepping_model(client_params params)
      : transport_(std::move(params)), path_(transport_.path(api::completions)) {}

  /// A new sequence holding problem.prompt (sent with the first extend; nothing is sent now).
  result<sequence> begin(const problem& p) {
    auto root = std::make_shared<const chunk>(chunk{p.prompt, nullptr, p.prompt.size(), 0});
    const sequence s = next_++;
    seqs_.emplace(s, seq_state{std::move(root), 0, false, {}});
    return s;
  }

  /// A sequence sharing `s`'s text (one pointer copied).
  result<sequence> fork(sequence s) {
    const auto it = seqs_.find(s);
    if (it == seqs_.end()) return fail(errc::invalid_argument, "openai::stepping_model::fork: unknown or released sequence");
    const sequence child = next_++;
    seqs_.emplace(child, it->second);
    return child;
  }

  /// Frees `s` (unknown handles are ignored).
  void release(sequence s) noexcept { seqs_.erase(s); }

  /// One step for each sequence (see the class notes).
  /// @returns the steps in order and the call's usage, or: invalid_argument (params fail
  ///   validate(), seqs and seeds differ in length, an unknown, repeated or done sequence, top_k
  ///   above logprob_top_k); timeout; engine_failure (an HTTP error that outlived the retries, a
  ///   malformed body, no choice or more than one).
  result<step_batch> extend(std::span<const sequence> seqs, const step_params& params,
                            std::span<const std::uint64_t> seeds) {
    if (auto ok = validate(params); !ok) return ok.error();
    if (seqs.size() != seeds.size())
      return fail(errc::invalid_argument, "openai::stepping_model::extend: seqs and seeds differ in length");
    if (params.stats.top_k > logprob_top_k)
      return fail(errc::invalid_argument, "openai::stepping_model::extend: stats.top_k exceeds logprob_top_k (20)");
    std::vector<seq_state*> states;
    states.reserve(seqs.size());
    std::unordered_set<sequence> seen;
    for (const sequence s : seqs) {
      const auto it = seqs_.find(s);
      if (it == seqs_.end()) return fail(errc::invalid_argument, "openai::stepping_model::extend: unknown or released sequence");
      if (!seen.insert(s).second) return fail(errc::invalid_argument, "openai::stepping_model::extend: a sequence is repeated");
      if (it->second.done) return fail(errc::invalid_argument, "openai::stepping_model::extend: a sequence is done");
      states.push_back(&it->second);
    }

    const adapters::detail::stats_request want{params.stats.logprobs, params.stats.entropy, params.stats.top_k};
    const std::uint32_t wire_k = detail::wire_top_k(want, transport_.params().exact_token_counts, logprob_top_k);
    step_batch out;
    out.steps.resize(seqs.size());
    std::vector<reckon::usage> used(seqs.size());
    std::vector<std::uint32_t> counted(seqs.size(), 0); // the server's token count of each step
    std::vector<char> full(seqs.size(), 0);             // ended by the server's context
    // A sequence already at max_total_tokens (lowered since its last step) may generate nothing: it
    // gets an empty step that ends it, and no request (a server reads "max_tokens": 0 as no limit
    // or as an error, never as nothing).
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      if (states[i]->generated < params.max_total_tokens) {
        asked.push_back(i);
      } else {
        out.steps[i].finish = finish_reason::length;
        out.steps[i].done = true;
      }
    }
    auto failed = transport_.for_each(asked.size(), [&](httplib::Client& client, std::size_t k) {
      const std::size_t i = asked[k];
      return step_one(client, *states[i], params, want, wire_k, seeds[i], out.steps[i], used[i], counted[i], full[i]);
    });
    if (failed) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      return transport_.redact(std::move(*failed));
    }
    // All succeeded: only now does any sequence change.
    if (const auto ended = std::count(full.begin(), full.end(), 1); ended > 0)
      transport_.count([&](counters& t) { t.context_full += static_cast<std::uint64_t>(ended); });
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      seq_state& st = *states[i];
      step& sp = out.steps[i];
      st.generated += counted[i];
      if (st.generated >= params.max_total_tokens) sp.done = true;
      st.done = sp.done;
      const std::uint64_t id = next_chunk_++;
      sp.source = id;
      st.tail = std::make_shared<const chunk>(chunk{sp.text, st.tail, st.tail->length + sp.text.size(), id});
      st.boundary_tail.clear();
      if (sp.finish == finish_reason::length && !sp.done && params.delimiter.size() > 1)
        st.boundary_tail = suffix(st.tail.get(), params.delimiter.size() - 1);
      out.usage += used[i];
    }
    return out;
  }

  /// The text a sequence holds (prompt and steps), e.g. for a final answer or a test.
  [[nodiscard]] result<std::string> text(sequence s) const {
    const auto it = seqs_.find(s);
    if (it == seqs_.end()) return fail(errc::invalid_argument, "openai::stepping_model::text: unknown or released sequence");
    return materialize(*it->second.tail);
  }

  /// Live sequences (begun or forked, not released).
  [[nodiscard]] std::size_t live_sequences() const noexcept { return seqs_.size(); }

  /// What this model has done so far (all calls, failed ones included).
  [[nodiscard]] counters totals() const { return transport_.totals(); }

  /// The parameters this model was built with.
  [[nodiscard]] const client_params& params() const noexcept { return transport_.params(); }

private:
  // One link of a sequence's text: this chunk follows `parent` (null for the prompt).
  struct chunk {
    std::string text;
    std::shared_ptr<const chunk> parent;
    std::size_t length = 0; // characters from the prompt's start to this chunk's end
    std::uint64_t id = 0;
  };
  struct seq_state {
    std::shared_ptr<const chunk> tail;
    std::uint32_t generated = 0; // tokens generated so far, as the server counted them
    bool done = false;
    std::string boundary_tail; // after a step cut by its token cap: its last delimiter.size() - 1 characters
  };

  static std::string materialize(const chunk& tail) {
    std::vector<const chunk*> path;
    for (const chunk* c = &tail; c != nullptr; c = c->parent.get()) path.push_back(c);
    std::string s;
    s.reserve(tail.length);
    for (auto it = path.rbegin(); it != path.rend(); ++it) s += (*it)->text;
    return s;
  }

  // The last n characters of a sequence's text (fewer if it is shorter).
  static std::string suffix(const chunk* c, std::size_t n) {
    std::string out;
    for (; c != nullptr && out.size() < n; c = c->parent.get())
      out.insert(0, c->text.substr(c->text.size() - std::min(c->text.size(), n - out.size())));
    return out;
  }

  // One sequence's request; fills `sp`, its usage and the server's token count. Touches no state.
  result<void> step_one(httplib::Client& client, const seq_state& st, const step_params& params,
                        const adapters::detail::stats_request& want, std::uint32_t wire_k, std::uint64_t seed, step& sp,
                        reckon::usage& used, std::uint32_t& counted, char& full) {
    const std::string prompt = materialize(*st.tail);
    sampling_params sampling;
    sampling.max_tokens = std::min(params.max_step_tokens, params.max_total_tokens - std::min(params.max_total_tokens, st.generated));
    sampling.temperature = params.temperature;
    sampling.top_p = params.top_p;
    sampling.stop = {params.delimiter};
    const auto& cp = transport_.params();
    auto body_of = [&](std::uint64_t s) {
      return detail::request_body(api::completions, cp.model, prompt, sampling, 1, s, wire_k).dump();
    };
    bool overflow = false;
    auto response = transport_.post_reseeding(client, path_, seed, body_of, "this sequence's step", &overflow);
    if (!response && overflow && st.tail->parent != nullptr) { // the context is full: the path ends (header notes)
      sp.finish = finish_reason::length;
      sp.done = true;
      full = 1;
      return {};
    }
    if (!response) {
      reckon::error e = response.error();
      e.message = "openai::stepping_model: " + e.message;
      return e;
    }
    auto parsed = detail::parse_response(*response, api::completions);
    if (!parsed) return parsed.error();
    if (parsed->choices.size() != 1)
      return fail(errc::engine_failure, "openai::stepping_model: server returned " + std::to_string(parsed->choices.size()) +
                                            " choices for n = 1: " + detail::excerpt(*response));
    detail::parsed_choice& choice = parsed->choices[0];
    const std::size_t listed = choice.has_token_list ? choice.logprob.size() : 0;
    std::uint64_t server_count = parsed->completion_tokens.value_or(0);
    if (listed > server_count) server_count = listed;
    if (!choice.has_token_list && !parsed->completion_tokens)
      server_count = std::min<std::uint64_t>((choice.text.size() + 3) / 4, sampling.max_tokens);
    if (server_count > sampling.max_tokens)
      return fail(errc::engine_failure, "openai::stepping_model: server generated " + std::to_string(server_count) +
                                            " tokens for max_tokens = " + std::to_string(sampling.max_tokens) + ": " +
                                            detail::excerpt(*response));

    // Which stop ended it (see the class notes).
    finish_reason finish = choice.finish;
    bool at_delimiter = false;
    if (finish != finish_reason::length) {
      const std::uint64_t reported = parsed->completion_tokens.value_or(0);
      if (choice.stop_reason_listed) at_delimiter = choice.matched_stop && *choice.matched_stop == params.delimiter;
      else if (choice.has_token_list) at_delimiter = reported > listed;
      else at_delimiter = wire_k > 0 && reported > 0; // llama-server sends "logprobs": null when the stop string took every token
    }
    bool split_delimiter = false;
    const std::uint32_t tokens_hint = static_cast<std::uint32_t>(server_count);
    completion c;
    try {
      c = detail::to_completion(std::move(choice), want, tokens_hint);
    } catch (const reckon::exception& e) {
      return fail(errc::engine_failure, "openai::stepping_model: malformed logprobs (" + e.error().message +
                                            "): " + detail::excerpt(*response));
    }
    sp.text = std::move(c.text);
    sp.stats = std::move(c.stats);
    // The server searches only the text it generates for the stop string, so a delimiter split by
    // the previous step's token cap ("\n" | "\n") is found here; the text after it is dropped.
    if (!st.boundary_tail.empty()) {
      const std::string joined = st.boundary_tail + sp.text;
      const std::size_t at = joined.find(params.delimiter);
      if (at != std::string::npos && at < st.boundary_tail.size()) {
        sp.text.resize(at + params.delimiter.size() - st.boundary_tail.size());
        split_delimiter = true;
      }
    }
    sp.tokens = want.none() ? tokens_hint : static_cast<std::uint32_t>(listed);
    if (split_delimiter) { // the text already ends with the delimiter
      sp.finish = finish_reason::step;
      sp.done = false;
    } else if (finish == finish_reason::length) {
      sp.finish = finish_reason::length;
      sp.done = false; // extend marks it done if max_total_tokens is reached
    } else if (at_delimiter) {
      sp.text += params.delimiter;
      sp.finish = finish_reason::step;
      sp.done = false;
    } else {
      sp.finish = finish_reason::eos;
      sp.done = true;
    }
    counted = tokens_hint;
    used.engine_calls = 1;
    used.prefilled_tokens = parsed->prefilled();
    used.generated_tokens = server_count;
    transport_.accept(used, parsed->prompt_tokens);
    return {};
  }

  detail::transport transport_;
  std::string path_;
  std::unordered_map<sequence, seq_state> seqs_;
  sequence next_ = 1;
  std::uint64_t next_chunk_ = 1;
};

} // namespace reckon::openai
