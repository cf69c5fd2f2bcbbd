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
// Effort (SCALE's System 1 / System 2, step_params::effort), mapped by effort_params:
// - a deliberate step's request is the sequence's text followed by effort_params::deliberate_prompt
//   (default: a plain text instruction to think the step through, which any completions server
//   takes; /v1/completions applies no chat template, so Qwen3's enable_thinking switch does not
//   exist there: for a Qwen3 raw-template prompt set deliberate_prompt = "<think>\n" and
//   standard_prompt = "<think>\n\n</think>\n\n", what its template writes for each mode). A
//   standard step's request is the text followed by standard_prompt (default empty: the request is
//   unchanged). Only the generated text is kept: later steps, rate_next and text() see the problem's
//   prompt and every step's generated text (delimiter included), never an inserted prompt. The
//   reference code keeps only the answer content (reasoning_content is dropped); /v1/completions has
//   no such split, so a deliberate step's kept text is all it generated, its reasoning included;
// - token caps: a step never exceeds step_params::max_step_tokens (the strategy's budget checks
//   rely on it), so a mode's cap only lowers the request: max_tokens = min(max_step_tokens, the
//   mode's cap when set, what is left of max_total_tokens). A larger System 2 cap is had by
//   lowering System 1's (effort_params::standard_step_tokens) under the strategy's; SCALE
//   already gives System 2 its own cap through scale_params::deliberate_step_tokens, so leave
//   effort_params::deliberate_step_tokens at 0 under SCALE (set both and the smaller wins, never a
//   product);
// - temperature / top_p per mode override step_params' when set (unset by default, so a strategy's
//   sampling holds; SCALE's code uses 0.6 / 0.95 thinking and 0.7 / 0.8 non-thinking);
// - an inserted prompt breaks the prefix cache after the sequence's text: the next request re-sends
//   the step without it, so the step's tokens are prefilled again (the ledger shows it).
//
// Self-rating (SCALE's stage 2, self_rating_model), from rating_params, over /v1/completions too:
// - rate_plan asks for an outline (the reference code's OUTLINE_INSTRUCTION: JSON {"step1": ...}),
//   then rates each outlined step with SCORE_INSTRUCTION, the previous steps' descriptions as the
//   "current solution process" (the code's thinking_scores): 1 + n calls for n steps (the code's
//   single-outline path; it samples 8 and lets the model pick, see scale.hpp);
// - rate_next rates each sequence's next step with its kept text after the prompt as the current
//   solution process (the paper's Eq. 3);
// - a rating reply's first number is the rating when it lies in [0, 1] (the code takes the whole
//   reply as a float: "Score: 0.35" is a retry there, 0.35 here); otherwise, and for an outline that
//   is no JSON object of keys step1 .. stepN, the request is repeated with a derived seed up to
//   rating_params::max_attempts times (the code retries without bound, with the same seed), then
//   fails (engine_failure quoting the last reply). Every reply's tokens are in the returned usage.
//   So one rate_next may generate up to max_attempts x score_max_tokens tokens (give SCALE that as
//   scale_params::rating_reserve under a token budget), and rate_plan up to max_attempts x
//   outline_max_tokens + n x max_attempts x score_max_tokens, which SCALE does not reserve.
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
#include <reckon/concepts/self_rating_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>
#include <reckon/random/stream.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How a stepping_model maps step_params::effort onto a request (see the header's notes).
struct effort_params {
  /// Text sent after the sequence's text for a deliberate step (not kept in the sequence).
  std::string deliberate_prompt = "Let's think this step through carefully before writing it.\n";
  /// Text sent after the sequence's text for a standard step (not kept; empty: none).
  std::string standard_prompt;
  std::uint32_t deliberate_step_tokens = 0; ///< cap on a deliberate step's tokens under max_step_tokens (0: none)
  std::uint32_t standard_step_tokens = 0;   ///< cap on a standard step's tokens under max_step_tokens (0: none)
  std::optional<float> deliberate_temperature; ///< a deliberate step's temperature (unset: step_params'; the code's thinking mode: 0.6)
  std::optional<float> deliberate_top_p;       ///< a deliberate step's top_p (unset: step_params'; the code's: 0.95)
  std::optional<float> standard_temperature;   ///< a standard step's temperature (unset: step_params'; the code's non-thinking mode: 0.7)
  std::optional<float> standard_top_p;         ///< a standard step's top_p (unset: step_params'; the code's: 0.8)
};

/// SCALE's outline instruction (XiaoYang66/DualThinking, inference/cot_dual_thinking.py, OUTLINE_INSTRUCTION).
inline constexpr const char* scale_outline_instruction =
    "You are a helpful and brilliant math teacher that decompose math problems into a sequence of clear, manageable "
    "subproblems. Analyze the problem and decompose it into a sequence of clear, manageable subproblems that build "
    "logically toward the final solution.\n\nRequirements:\n1. Break down the main problem into sequential, achievable "
    "subgoals where each subproblem is simpler than the original\n2. Focus on WHAT to achieve in each step, not HOW to "
    "do it - avoid specifying particular theorems, formulas, or methods unless absolutely necessary\n3. Each step "
    "should either build upon previous results or be independently executable in logical order\n4. Every step must "
    "have a specific, clear target/goal that directly contributes to reaching the final answer\n5. Do not solve the "
    "problem or provide numerical results - only identify the key steps needed\n6. If new variables, points, or "
    "concepts need to be introduced for problem-solving convenience, mention them explicitly\n7. Ensure the complete "
    "sequence creates a logical pathway from the given information to the requested solution\n8. Keep steps concise "
    "and action-oriented, focusing on objectives rather than implementation methods\n\nDecomposition Strategy: "
    "Identify what intermediate results or insights are needed to answer the main question, then organize these into "
    "a logical sequence where each step enables subsequent progress.\n\nFormat: Provide steps in JSON format as "
    "{\"step1\": \"description\", \"step2\": \"description\", ...}\n\nProvide only the JSON output with no additional "
    "explanation or content.";

/// SCALE's difficulty instruction (the same file, SCORE_INSTRUCTION), verbatim.
inline constexpr const char* scale_score_instruction =
    "You are a helpful and brilliant math teacher that can solve mathematical problems step by step. I will provide "
    "you with a problem, the current solution process, and the next step to be solved. Please evaluate the difficulty "
    "of this next step and return a value between 0 and 1. A score of 0-0.5 indicates the step is relatively "
    "simple\u2014elementary or middle school students with relevant knowledge can solve it quickly without assistance. "
    "A score of 0.5-1 indicates the step is difficult\u2014even high school or college students with the necessary "
    "knowledge would need extensive thinking or help from others, or may not be able to solve it at all. "
    "Requirements: 1.only return a score between 0 and 1. 2. Do not provide any other content or explanation.";

/// How a stepping_model rates difficulty (self_rating_model; see the header's notes). A template's
/// fields are filled in one pass ({instruction}, {problem}, {process}, {next}), so text inside a
/// field is never read as a field.
struct rating_params {
  std::string score_instruction = scale_score_instruction;
  std::string outline_instruction = scale_outline_instruction;
  /// One rating request (the code's system + user messages, as one completions prompt).
  std::string score_template =
      "{instruction}\n\nproblem: {problem}\ncurrent solution process: {process}\nnext step to be solved:{next}\nscore:";
  /// The outline request.
  std::string outline_template = "{instruction}\n\nproblem: {problem}\nJSON:";
  /// rate_next's {next}: a stepping chain has no written description of its next step.
  std::string next_step = "the next step of the current solution process";
  std::uint32_t score_max_tokens = 64;    ///< the code's SCORE_MAX_TOKENS (> 0)
  std::uint32_t outline_max_tokens = 1024; ///< the outline's cap (> 0; the code's 32768 exceeds most servers' context per slot)
  std::uint32_t max_attempts = 4;          ///< requests per rating or outline before it fails (>= 1)
  float temperature = 0.7f;                ///< the code's non-thinking mode, which it rates and outlines in
  float top_p = 0.8f;
};

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
  // Self-rating is declared unconditionally: any completions server can be asked SCALE's
  // questions, and a model that rates badly is a matter of quality, not of capability.
  using reckon_model_concept = capabilities<stepping_model_tag, logprob_model_tag, self_rating_model_tag>;
  /// A sequence handle: an id into the client's table (never reused).
  using sequence = std::uint64_t;
  /// Widest top-k of logprobs served.
  static constexpr std::uint32_t logprob_top_k = 20;
  /// Entropy and varentropy are estimated from the top-k logprobs.
  static constexpr bool full_logits = false;

  /// A model talking to `params.url`; throws reckon::exception (invalid_argument) as openai::model,
  /// and for a mode's temperature or top_p out of range, a rating cap of 0, max_attempts 0, or a
  /// template without its {instruction} and {problem} fields (the score template also {process}
  /// and {next}).
  explicit stepping_model(client_params params, effort_params effort = {}, rating_params rating = {})
      : transport_(std::move(params)), path_(transport_.path(api::completions)), effort_(std::move(effort)),
        rating_(std::move(rating)) {
    for (const auto& [t, p] : {std::pair{effort_.deliberate_temperature, effort_.deliberate_top_p},
                               std::pair{effort_.standard_temperature, effort_.standard_top_p}}) {
      reckon::detail::require(!t || (std::isfinite(*t) && *t >= 0.0f),
                              "openai::effort_params: a temperature must be finite and >= 0");
      reckon::detail::require(!p || (std::isfinite(*p) && *p > 0.0f && *p <= 1.0f),
                              "openai::effort_params: a top_p must be in (0, 1]");
    }
    reckon::detail::require(rating_.score_max_tokens > 0 && rating_.outline_max_tokens > 0,
                            "openai::rating_params: score_max_tokens and outline_max_tokens must be > 0");
    reckon::detail::require(rating_.max_attempts >= 1, "openai::rating_params.max_attempts must be >= 1");
    reckon::detail::require(std::isfinite(rating_.temperature) && rating_.temperature >= 0.0f &&
                                std::isfinite(rating_.top_p) && rating_.top_p > 0.0f && rating_.top_p <= 1.0f,
                            "openai::rating_params: temperature must be >= 0 and top_p in (0, 1]");
    for (const char* field : {"{instruction}", "{problem}", "{process}", "{next}"})
      reckon::detail::require(rating_.score_template.find(field) != std::string::npos,
                              std::string("openai::rating_params.score_template must contain ") + field);
    for (const char* field : {"{instruction}", "{problem}"})
      reckon::detail::require(rating_.outline_template.find(field) != std::string::npos,
                              std::string("openai::rating_params.outline_template must contain ") + field);
  }

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

  /// SCALE's up-front ratings (see the header's notes): an outline of the problem, then one rating
  /// per outlined step, the earlier steps' descriptions as the solution so far. Seeds: the outline
  /// request_seed(seed, 0), step i's rating request_seed(seed, i + 1); attempt a > 0 of either
  /// request_seed(that, a).
  /// @returns one rating per outlined step and every reply's usage, or: engine_failure (no outline
  ///   of keys step1 .. stepN, or no rating in [0, 1], within max_attempts replies: the last one
  ///   quoted; or what extend's requests fail with), timeout.
  result<difficulty_ratings> rate_plan(const problem& p, std::uint64_t seed) {
    difficulty_ratings out;
    std::vector<std::string> steps;
    std::string last;
    const std::string outline_prompt = fill(rating_.outline_template, {{"{instruction}", rating_.outline_instruction},
                                                                       {"{problem}", p.prompt}});
    auto client = transport_.open();
    for (std::uint32_t a = 0; a < rating_.max_attempts && steps.empty(); ++a) {
      auto reply = ask(*client, outline_prompt, rating_.outline_max_tokens, attempt_seed(reckon::request_seed(seed, 0), a),
                       "the outline", out.usage);
      if (!reply) return reply.error();
      steps = parse_outline(*reply);
      last = std::move(*reply);
    }
    if (steps.empty())
      return fail(errc::engine_failure, "openai::stepping_model::rate_plan: no outline {\"step1\": ...} in " +
                                            std::to_string(rating_.max_attempts) + " replies; the last: \"" +
                                            detail::excerpt(last) + "\"");
    std::vector<std::string> prompts;
    std::string process;
    for (const std::string& step : steps) {
      prompts.push_back(fill(rating_.score_template, {{"{instruction}", rating_.score_instruction},
                                                      {"{problem}", p.prompt}, {"{process}", process}, {"{next}", step}}));
      process += process.empty() ? step : " " + step; // the code joins the descriptions with spaces
    }
    std::vector<std::uint64_t> seeds(steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) seeds[i] = reckon::request_seed(seed, static_cast<std::uint32_t>(i + 1));
    auto rated = rate_all(prompts, seeds, "rate_plan");
    if (!rated) return rated.error();
    rated->usage += out.usage;
    return rated;
  }

  /// The rating of each sequence's next step, its kept text after the prompt as the solution so
  /// far (the paper's Eq. 3); `seeds[i]` seeds sequence i's (attempt a > 0: request_seed(seeds[i], a)).
  /// @returns one rating per sequence and every reply's usage, or: invalid_argument (seqs and
  ///   seeds differ in length, an unknown sequence), engine_failure (no rating in [0, 1] within
  ///   max_attempts replies: the last one quoted; or what extend's requests fail with), timeout.
  result<difficulty_ratings> rate_next(std::span<const sequence> seqs, std::span<const std::uint64_t> seeds) {
    if (seqs.size() != seeds.size())
      return fail(errc::invalid_argument, "openai::stepping_model::rate_next: seqs and seeds differ in length");
    std::vector<std::string> prompts;
    prompts.reserve(seqs.size());
    for (const sequence s : seqs) {
      const auto it = seqs_.find(s);
      if (it == seqs_.end()) return fail(errc::invalid_argument, "openai::stepping_model::rate_next: unknown or released sequence");
      const chunk* root = it->second.tail.get();
      while (root->parent != nullptr) root = root->parent.get();
      const std::string solved = materialize(*it->second.tail).substr(root->length);
      prompts.push_back(fill(rating_.score_template, {{"{instruction}", rating_.score_instruction},
                                                      {"{problem}", root->text}, {"{process}", solved},
                                                      {"{next}", rating_.next_step}}));
    }
    return rate_all(prompts, std::vector<std::uint64_t>(seeds.begin(), seeds.end()), "rate_next");
  }

  /// The first number in `reply` when it lies in [0, 1] (a leading '-' is part of it), else nullopt.
  [[nodiscard]] static std::optional<double> parse_rating(std::string_view reply) {
    for (std::size_t i = 0; i < reply.size(); ++i) {
      const bool digit = reply[i] >= '0' && reply[i] <= '9';
      const bool point = reply[i] == '.' && i + 1 < reply.size() && reply[i + 1] >= '0' && reply[i + 1] <= '9';
      if (!digit && !point) continue;
      const std::size_t from = i > 0 && reply[i - 1] == '-' ? i - 1 : i;
      double v = 0.0;
      const auto [end, ec] = std::from_chars(reply.data() + from, reply.data() + reply.size(), v);
      (void)end;
      if (ec != std::errc{} || !std::isfinite(v) || v < 0.0 || v > 1.0) return std::nullopt;
      return v;
    }
    return std::nullopt;
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
  [[nodiscard]] const effort_params& effort() const noexcept { return effort_; }
  [[nodiscard]] const rating_params& rating() const noexcept { return rating_; }

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

  static std::uint64_t attempt_seed(std::uint64_t seed, std::uint32_t attempt) {
    return attempt == 0 ? seed : reckon::request_seed(seed, attempt);
  }

  // `tmpl` with each field replaced by its value, in one pass over the template.
  static std::string fill(const std::string& tmpl, std::initializer_list<std::pair<const char*, std::string_view>> fields) {
    std::string out;
    for (std::size_t i = 0; i < tmpl.size();) {
      bool matched = false;
      for (const auto& [name, value] : fields)
        if (tmpl.compare(i, std::char_traits<char>::length(name), name) == 0) {
          out += value;
          i += std::char_traits<char>::length(name);
          matched = true;
          break;
        }
      if (!matched) out += tmpl[i++];
    }
    return out;
  }

  // The outline's step descriptions in order, or none when the reply is no JSON object of string
  // values under keys step1 .. stepN (a ```json block's content when there is one, as the code reads it).
  static std::vector<std::string> parse_outline(std::string_view reply) {
    std::string_view body = reply;
    if (const auto open = body.rfind("```json"); open != std::string_view::npos) {
      body = body.substr(open + 7);
      body = body.substr(0, body.find("```"));
    }
    const auto a = body.find('{');
    const auto b = body.rfind('}');
    if (a == std::string_view::npos || b == std::string_view::npos || b < a) return {};
    const std::string text(body.substr(a, b - a + 1));
    // Lone backslashes doubled first, as the code does, so that LaTeX's \frac stays text (JSON would
    // read \f as a form feed); the reply as it came when that breaks it (an escaped quote).
    std::string fixed;
    for (std::size_t i = 0; i < text.size(); ++i) {
      fixed += text[i];
      const bool lone = text[i] == '\\' && (i == 0 || text[i - 1] != '\\') && (i + 1 == text.size() || text[i + 1] != '\\');
      if (lone) fixed += '\\';
    }
    nlohmann::json j = nlohmann::json::parse(fixed, nullptr, false);
    if (j.is_discarded()) j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.empty()) return {};
    std::vector<std::string> steps(j.size());
    for (const auto& [key, value] : j.items()) {
      if (key.size() < 5 || key.compare(0, 4, "step") != 0 || !value.is_string()) return {};
      std::size_t k = 0;
      const auto [end, ec] = std::from_chars(key.data() + 4, key.data() + key.size(), k);
      if (ec != std::errc{} || end != key.data() + key.size() || k == 0 || k > steps.size() || !steps[k - 1].empty())
        return {};
      steps[k - 1] = value.get<std::string>();
      if (steps[k - 1].empty()) return {};
    }
    return steps;
  }

  // One rating-side request (no stop string, no logprobs); its text, its usage added to `used`.
  result<std::string> ask(httplib::Client& client, const std::string& prompt, std::uint32_t max_tokens, std::uint64_t seed,
                          const std::string& what, reckon::usage& used) {
    sampling_params sampling;
    sampling.max_tokens = max_tokens;
    sampling.temperature = rating_.temperature;
    sampling.top_p = rating_.top_p;
    const auto& cp = transport_.params();
    auto body_of = [&](std::uint64_t s) {
      return detail::request_body(api::completions, cp.model, prompt, sampling, 1, s, 0).dump();
    };
    auto response = transport_.post_reseeding(client, path_, seed, body_of, what);
    if (!response) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      reckon::error e = transport_.redact(response.error());
      e.message = "openai::stepping_model: " + e.message;
      return e;
    }
    auto parsed = detail::parse_response(*response, api::completions);
    if (!parsed) return parsed.error();
    if (parsed->choices.size() != 1)
      return fail(errc::engine_failure, "openai::stepping_model: server returned " + std::to_string(parsed->choices.size()) +
                                            " choices for n = 1: " + detail::excerpt(*response));
    reckon::usage u;
    u.engine_calls = 1;
    u.prefilled_tokens = parsed->prefilled();
    u.generated_tokens = parsed->completion_tokens.value_or((parsed->choices[0].text.size() + 3) / 4);
    transport_.accept(u, parsed->prompt_tokens);
    used += u;
    return std::move(parsed->choices[0].text);
  }

  // Rates prompts[i] with seeds[i] (retried as the header says), on up to max_in_flight threads.
  result<difficulty_ratings> rate_all(const std::vector<std::string>& prompts, const std::vector<std::uint64_t>& seeds,
                                      const char* who) {
    difficulty_ratings out;
    out.difficulty.assign(prompts.size(), 0.0);
    std::vector<reckon::usage> used(prompts.size());
    auto failed = transport_.for_each(prompts.size(), [&](httplib::Client& client, std::size_t i) -> result<void> {
      std::string last;
      for (std::uint32_t a = 0; a < rating_.max_attempts; ++a) {
        auto reply = ask(client, prompts[i], rating_.score_max_tokens, attempt_seed(seeds[i], a),
                         "this rating", used[i]);
        if (!reply) return reply.error();
        if (const auto d = parse_rating(*reply)) {
          out.difficulty[i] = *d;
          return {};
        }
        last = std::move(*reply);
      }
      return fail(errc::engine_failure, std::string("openai::stepping_model::") + who + ": no rating in [0, 1] in " +
                                            std::to_string(rating_.max_attempts) + " replies; the last: \"" +
                                            detail::excerpt(last) + "\"");
    });
    if (failed) return transport_.redact(std::move(*failed));
    for (const auto& u : used) out.usage += u;
    return out;
  }

  // One sequence's request; fills `sp`, its usage and the server's token count. Touches no state.
  result<void> step_one(httplib::Client& client, const seq_state& st, const step_params& params,
                        const adapters::detail::stats_request& want, std::uint32_t wire_k, std::uint64_t seed, step& sp,
                        reckon::usage& used, std::uint32_t& counted, char& full) {
    const bool deliberate = params.effort == effort_level::deliberate;
    // The mode's prompt is sent, never kept (the header's notes).
    const std::string prompt = materialize(*st.tail) + (deliberate ? effort_.deliberate_prompt : effort_.standard_prompt);
    sampling_params sampling;
    sampling.max_tokens = std::min(params.max_step_tokens, params.max_total_tokens - std::min(params.max_total_tokens, st.generated));
    if (const std::uint32_t cap = deliberate ? effort_.deliberate_step_tokens : effort_.standard_step_tokens; cap != 0)
      sampling.max_tokens = std::min(sampling.max_tokens, cap);
    sampling.temperature = (deliberate ? effort_.deliberate_temperature : effort_.standard_temperature).value_or(params.temperature);
    sampling.top_p = (deliberate ? effort_.deliberate_top_p : effort_.standard_top_p).value_or(params.top_p);
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
  effort_params effort_;
  rating_params rating_;
  std::unordered_map<sequence, seq_state> seqs_;
  sequence next_ = 1;
  std::uint64_t next_chunk_ = 1;
};

} // namespace reckon::openai
