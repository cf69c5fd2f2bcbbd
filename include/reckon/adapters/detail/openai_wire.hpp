// SPDX-License-Identifier: Apache-2.0
// The OpenAI-compatible wire format: request bodies, and responses in the three logprob shapes.
#pragma once

#include <reckon/adapters/detail/stats.hpp>
#include <reckon/core/params.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon::openai {

/// Which endpoint of the server a model talks to.
enum class api : std::uint8_t {
  completions,      ///< POST {base}/v1/completions with a "prompt"
  chat_completions, ///< POST {base}/v1/chat/completions with one user message holding the prompt
};

} // namespace reckon::openai

namespace reckon::openai::detail {

using json = nlohmann::json;

/// The longest excerpt of a server's body quoted in an error message.
inline constexpr std::size_t body_excerpt_chars = 200;

/// The first `body_excerpt_chars` characters of `body`, for error messages.
[[nodiscard]] inline std::string excerpt(std::string_view body) {
  if (body.size() <= body_excerpt_chars) return std::string(body);
  return std::string(body.substr(0, body_excerpt_chars)) + "...";
}

/// The seed sent for a request: 31 bits, because servers read the seed as int32 or uint32
/// (llama-server treats 0xFFFFFFFF as "random").
[[nodiscard]] constexpr std::uint32_t wire_seed(std::uint64_t seed) noexcept {
  return static_cast<std::uint32_t>((seed ^ (seed >> 31) ^ (seed >> 62)) & 0x7FFFFFFFULL);
}

/// The top-k width to ask the server for: what the statistics need, at least 1 when exact token
/// counts are wanted (servers return no per-token list at 0), 0 when nothing is needed.
[[nodiscard]] inline std::uint32_t wire_top_k(const adapters::detail::stats_request& want, bool exact_token_counts,
                                              std::uint32_t entropy_top_k) {
  std::uint32_t k = want.top_k;
  if (want.entropy) k = std::max(k, entropy_top_k);
  if (k == 0 && (want.logprob || exact_token_counts)) k = 1;
  return k;
}

/// The JSON body of one request for `n` completions.
/// @param endpoint  which API shape to write
/// @param model     the "model" field (omitted when empty)
/// @param prompt    the prompt text
/// @param params    sampling parameters (already validated)
/// @param n         completions in this request (>= 1)
/// @param seed      the request's seed (sent as wire_seed(seed))
/// @param top_k     the logprob width to ask for (0: no logprobs)
[[nodiscard]] inline json request_body(api endpoint, const std::string& model, const std::string& prompt,
                                       const sampling_params& params, std::uint32_t n, std::uint64_t seed,
                                       std::uint32_t top_k) {
  json body = json::object();
  if (!model.empty()) body["model"] = model;
  if (endpoint == api::completions) {
    body["prompt"] = prompt;
  } else {
    body["messages"] = json::array({json{{"role", "user"}, {"content", prompt}}});
  }
  body["n"] = n;
  body["max_tokens"] = params.max_tokens;
  body["temperature"] = params.temperature;
  body["top_p"] = params.top_p;
  body["seed"] = wire_seed(seed);
  if (!params.stop.empty()) body["stop"] = params.stop;
  if (top_k > 0) {
    if (endpoint == api::completions) {
      body["logprobs"] = top_k;
    } else {
      body["logprobs"] = true;
      body["top_logprobs"] = top_k;
    }
  }
  body["stream"] = false;
  return body;
}

/// One choice of a response, parsed.
struct parsed_choice {
  std::size_t index = 0;               ///< the choice's "index" (position when absent)
  std::string text;                    ///< text or message.content
  finish_reason finish = finish_reason::eos; ///< mapped finish reason
  bool has_token_list = false;         ///< the response carried per-token logprobs
  std::vector<float> logprob;          ///< chosen-token logprobs (one per token)
  std::vector<std::string> tokens;     ///< chosen-token strings (one per token; empty where the server gave none)
  bool token_strings = false;          ///< every listed token came with its string
  std::vector<std::vector<float>> top; ///< per token, the listed top logprobs, descending
  std::vector<std::vector<std::string>> top_tokens; ///< per token, the strings of `top`, in the same order ("" where unnamed)
  bool stop_reason_listed = false;     ///< the choice said what stopped it ("stop_reason" or SGLang's "matched_stop", null included)
  std::optional<std::string> matched_stop; ///< the stop string that ended it, where the server names one
};

/// A response, parsed.
struct parsed_response {
  std::vector<parsed_choice> choices; ///< sorted by index
  std::uint64_t prompt_tokens = 0;    ///< usage.prompt_tokens
  std::uint64_t cached_tokens = 0;    ///< usage.prompt_tokens_details.cached_tokens (0 when absent)
  std::optional<std::uint64_t> completion_tokens; ///< usage.completion_tokens, when reported
  std::optional<std::uint64_t> prompt_evaluated;  ///< llama-server's timings.prompt_n: prompt tokens it actually evaluated

  /// Prompt tokens the server processed that were not in its cache: llama-server's timings.prompt_n
  /// where present, else usage.prompt_tokens less prompt_tokens_details.cached_tokens.
  [[nodiscard]] std::uint64_t prefilled() const noexcept {
    return prompt_evaluated ? *prompt_evaluated : prompt_tokens - cached_tokens;
  }
};

[[nodiscard]] inline float as_logprob(const json& v) {
  if (v.is_number()) return v.get<float>();
  if (v.is_null()) return -std::numeric_limits<float>::infinity(); // the server could not say (-inf: p = 0)
  // A string, bool, array or object is no logprob; read as p = 0 it would pass for a real one.
  throw std::runtime_error("a logprob is neither a number nor null");
}

inline std::string token_string(const json& entry) {
  if (auto t = entry.find("token"); t != entry.end() && t->is_string()) return t->get<std::string>();
  return {};
}

// One token's alternatives, sorted descending by logprob (ties keep the server's order).
inline void push_top_row(std::vector<std::pair<float, std::string>> row, parsed_choice& out) {
  std::stable_sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<float> values;
  std::vector<std::string> names;
  values.reserve(row.size());
  names.reserve(row.size());
  for (auto& [v, name] : row) {
    values.push_back(v);
    names.push_back(std::move(name));
  }
  out.top.push_back(std::move(values));
  out.top_tokens.push_back(std::move(names));
}

// Chat shape (chat/completions, and llama-server's /v1/completions):
//   logprobs.content[] = {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}, ...]}
inline void parse_content_logprobs(const json& content, parsed_choice& out) {
  if (!content.is_array()) throw std::runtime_error("logprobs.content is not an array");
  out.has_token_list = true;
  out.token_strings = true;
  for (const auto& entry : content) {
    if (!entry.is_object() || !entry.contains("logprob")) throw std::runtime_error("logprobs.content entry has no logprob");
    if (auto t = entry.find("token"); t == entry.end() || !t->is_string()) out.token_strings = false;
    out.logprob.push_back(as_logprob(entry.at("logprob")));
    out.tokens.push_back(token_string(entry));
    std::vector<std::pair<float, std::string>> row;
    if (auto it = entry.find("top_logprobs"); it != entry.end() && it->is_array())
      for (const auto& alt : *it)
        if (alt.is_object() && alt.contains("logprob")) row.emplace_back(as_logprob(alt.at("logprob")), token_string(alt));
    push_top_row(std::move(row), out);
  }
}

// Legacy completions shape (vLLM, OpenAI):
//   logprobs = {tokens: [...], token_logprobs: [...], top_logprobs: [{token: logprob} | null], text_offset}
inline void parse_legacy_logprobs(const json& lp, parsed_choice& out) {
  const json& values = lp.at("token_logprobs");
  if (!values.is_array()) throw std::runtime_error("logprobs.token_logprobs is not an array");
  out.has_token_list = true;
  for (const auto& v : values) out.logprob.push_back(as_logprob(v));
  out.tokens.assign(out.logprob.size(), {});
  if (auto t = lp.find("tokens"); t != lp.end() && t->is_array() && t->size() == out.logprob.size()) {
    out.token_strings = true;
    for (std::size_t i = 0; i < t->size(); ++i)
      if ((*t)[i].is_string()) out.tokens[i] = (*t)[i].get<std::string>();
      else out.token_strings = false;
  }
  const json* rows = nullptr;
  if (auto it = lp.find("top_logprobs"); it != lp.end() && it->is_array()) {
    if (it->size() != out.logprob.size()) throw std::runtime_error("logprobs.top_logprobs and token_logprobs differ in length");
    rows = &*it;
  }
  for (std::size_t t = 0; t < out.logprob.size(); ++t) {
    std::vector<std::pair<float, std::string>> row;
    if (rows != nullptr && (*rows)[t].is_object()) // null: no alternatives for this token
      for (const auto& item : (*rows)[t].items()) row.emplace_back(as_logprob(item.value()), item.key());
    push_top_row(std::move(row), out);
  }
}

[[nodiscard]] inline finish_reason map_finish(const json& choice) {
  const auto it = choice.find("finish_reason");
  if (it == choice.end() || !it->is_string()) return finish_reason::eos;
  const auto& reason = it->get_ref<const std::string&>();
  if (reason == "length") return finish_reason::length;
  // "stop" covers both EOS and a stop string; vLLM says which in "stop_reason" (the matched string,
  // or a token id / null for EOS).
  // SGLang names it "matched_stop".
  for (const char* key : {"stop_reason", "matched_stop"})
    if (auto sr = choice.find(key); sr != choice.end() && sr->is_string()) return finish_reason::stop;
  return finish_reason::eos;
}

// What the choice says stopped it: vLLM's "stop_reason" / SGLang's "matched_stop" (a string: that
// stop string; a number or null: EOS). llama-server says nothing.
inline void read_stop_reason(const json& choice, parsed_choice& out) {
  for (const char* key : {"stop_reason", "matched_stop"})
    if (auto sr = choice.find(key); sr != choice.end()) {
      out.stop_reason_listed = true;
      if (sr->is_string()) out.matched_stop = sr->get<std::string>();
      return;
    }
}

/// Parses a 200 response body in any of the three shapes; an error (engine_failure) names what
/// was malformed.
[[nodiscard]] inline result<parsed_response> parse_response(std::string_view body, api endpoint) {
  try {
    const json doc = json::parse(body);
    if (!doc.is_object() || !doc.contains("choices") || !doc.at("choices").is_array())
      return fail(errc::engine_failure, "response has no \"choices\" array: " + excerpt(body));
    parsed_response out;
    std::size_t position = 0;
    for (const auto& choice : doc.at("choices")) {
      if (!choice.is_object()) return fail(errc::engine_failure, "a choice is not an object: " + excerpt(body));
      parsed_choice c;
      c.index = position++;
      if (auto it = choice.find("index"); it != choice.end() && it->is_number_unsigned()) c.index = it->get<std::size_t>();
      if (endpoint == api::chat_completions) {
        const json& message = choice.at("message");
        if (auto content = message.find("content"); content != message.end() && content->is_string())
          c.text = content->get<std::string>();
      } else {
        const json& text = choice.at("text");
        if (!text.is_string()) return fail(errc::engine_failure, "choice.text is not a string: " + excerpt(body));
        c.text = text.get<std::string>();
      }
      c.finish = map_finish(choice);
      read_stop_reason(choice, c);
      if (auto lp = choice.find("logprobs"); lp != choice.end() && lp->is_object()) {
        if (lp->contains("content")) parse_content_logprobs(lp->at("content"), c);
        else if (lp->contains("token_logprobs")) parse_legacy_logprobs(*lp, c);
        else return fail(errc::engine_failure, "choice.logprobs is in no known shape: " + excerpt(body));
      }
      out.choices.push_back(std::move(c));
    }
    std::sort(out.choices.begin(), out.choices.end(),
              [](const parsed_choice& a, const parsed_choice& b) { return a.index < b.index; });
    for (std::size_t i = 1; i < out.choices.size(); ++i)
      if (out.choices[i].index == out.choices[i - 1].index)
        return fail(errc::engine_failure, "two choices share index " + std::to_string(out.choices[i].index));
    if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) {
      if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_unsigned()) out.prompt_tokens = p->get<std::uint64_t>();
      if (auto c = u->find("completion_tokens"); c != u->end() && c->is_number_unsigned())
        out.completion_tokens = c->get<std::uint64_t>();
      if (auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object())
        if (auto cached = d->find("cached_tokens"); cached != d->end() && cached->is_number_unsigned())
          out.cached_tokens = std::min(out.prompt_tokens, cached->get<std::uint64_t>());
    }
    if (auto t = doc.find("timings"); t != doc.end() && t->is_object())
      if (auto n = t->find("prompt_n"); n != t->end() && n->is_number_integer() && n->get<std::int64_t>() >= 0)
        out.prompt_evaluated = n->get<std::uint64_t>();
    return out;
  } catch (const std::exception& e) {
    return fail(errc::engine_failure, std::string("malformed response (") + e.what() + "): " + excerpt(body));
  }
}

/// Turns a parsed choice into a completion with the statistics asked for.
/// @param choice       the parsed choice
/// @param want         the statistics to fill
/// @param tokens_hint  the token count to use when the choice has no per-token list
[[nodiscard]] inline completion to_completion(parsed_choice&& choice, const adapters::detail::stats_request& want,
                                              std::uint32_t tokens_hint) {
  completion c;
  c.text = std::move(choice.text);
  c.finish = choice.finish;
  c.tokens = choice.has_token_list ? static_cast<std::uint32_t>(choice.logprob.size()) : tokens_hint;
  if (!choice.has_token_list) return c;
  if (want.logprob) c.stats.logprob = choice.logprob;
  if (want.entropy) {
    for (const auto& row : choice.top) {
      const auto [h, ve] = adapters::detail::entropy_from_top_k(row);
      c.stats.entropy.push_back(h);
      c.stats.varentropy.push_back(ve);
    }
  }
  if (want.top_k > 0) {
    // A row the server listed short is padded with -inf (p = 0): consumers read it as "not
    // listed" (entropy_from_top_k masks it, DeepConf's token confidence leaves it out).
    c.stats.top_k = want.top_k;
    for (const auto& row : choice.top)
      for (std::uint32_t i = 0; i < want.top_k; ++i)
        c.stats.top_logprobs.push_back(i < row.size() ? row[i] : -std::numeric_limits<float>::infinity());
  }
  return c;
}

} // namespace reckon::openai::detail
