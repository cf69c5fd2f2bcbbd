// SPDX-License-Identifier: Apache-2.0
// reckon::openai::embedder: an embedding_model over POST /v1/embeddings (OpenAI, vLLM, SGLang, llama-server --embeddings).
#pragma once

// Opt-in: link reckon::openai. reckon/reckon.hpp never includes this header.
//
// The wire shape, as OpenAI's API reference, vLLM's OpenAI-compatible server and llama-server's
// README (tools/server, "POST /v1/embeddings") describe it:
//   request  {"model": "...", "input": ["text", ...], "encoding_format": "float"}
//   response {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [floats]}, ...],
//             "model": "...", "usage": {"prompt_tokens": N, "total_tokens": N}}
// `index` is the input's position within that request. llama-server needs --embeddings and a
// pooling other than none, and returns vectors normalised to unit length (its --embd-normalize
// default); vLLM serves a pooling model (`--runner pooling`). Only directions matter to reckon, so
// a server's normalisation does not change what ETS sees. base64 vectors are not read: the
// request asks for floats.
//
// llama-server with several slots: start it with --kv-unified (its default only when -np is not
// given). With an explicit -np and per-slot KV, the build tested here pools wrongly when it
// batches several slots' inputs into one decode (measured on the test model with -np 2: cosine to
// the in-process llama_cpp::embedder's vector 0.75 for some texts sent concurrently, 1.000000 with
// --kv-unified or one request at a time). No client setting avoids it: the inputs of one request
// are spread over the slots too.

#include <reckon/adapters/detail/openai_client.hpp>
#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How an embedder batches its requests (the connection, retries and fan-out are client_params').
struct embed_params {
  std::uint32_t max_inputs_per_request = 64; ///< texts per request (> 0); a call's texts are split into requests of at most this many, sent up to client_params.max_in_flight at once
  bool send_encoding_format = true;          ///< send "encoding_format": "float" (OpenAI's client libraries otherwise ask for base64; some servers reject the field)
  std::uint32_t chars_per_estimated_token = 4; ///< a response without usage.prompt_tokens is charged ceil(chars / this) tokens per text, at least 1 (> 0; OpenAI's rule of thumb for English)
};

namespace detail {

/// A /v1/embeddings reply, read (read_embedding_reply).
struct embedding_reply {
  std::size_t dimension = 0;                  ///< every row's length (> 0)
  std::vector<float> values;                  ///< inputs x dimension, row-major, in input order; all finite
  std::optional<std::uint64_t> prompt_tokens; ///< the reply's usage.prompt_tokens, where it reports one
};

/// Reads a /v1/embeddings response body sent for `inputs` texts: engine_failure naming the fault
/// unless it holds exactly one row per input, every index is an integer in range and appears
/// once, and every vector is a non-empty array of finite numbers, all of one length.
[[nodiscard]] inline result<embedding_reply> read_embedding_reply(std::string_view body, std::size_t inputs) {
  auto bad = [&](const std::string& what) { return fail(errc::engine_failure, "openai::embedder: " + what + ": " + excerpt(body)); };
  try {
    const json doc = json::parse(body);
    if (!doc.is_object() || !doc.contains("data") || !doc.at("data").is_array())
      return bad("the response has no \"data\" array");
    const json& data = doc.at("data");
    if (data.size() != inputs)
      return bad("the response has " + std::to_string(data.size()) + " rows for " + std::to_string(inputs) + " inputs");
    std::vector<char> seen(inputs, 0);
    embedding_reply out;
    for (const json& row : data) {
      if (!row.is_object()) return bad("a row is not an object");
      const auto index = row.find("index");
      if (index == row.end() || !index->is_number_integer()) return bad("a row has no integer \"index\"");
      // Each sign read as itself: an index above INT64_MAX read as int64 would be named negative.
      const bool in_range = index->is_number_unsigned()
                                ? index->get<std::uint64_t>() < inputs
                                : index->get<std::int64_t>() >= 0 && static_cast<std::uint64_t>(index->get<std::int64_t>()) < inputs;
      if (!in_range) return bad("index " + index->dump() + " is out of range for " + std::to_string(inputs) + " inputs");
      const std::size_t i = index->get<std::size_t>();
      if (seen[i] != 0) return bad("index " + std::to_string(i) + " appears twice");
      seen[i] = 1;
      const auto vec = row.find("embedding");
      if (vec == row.end() || !vec->is_array() || vec->empty())
        return bad("row " + std::to_string(i) + " has no \"embedding\" array of numbers (encoding_format float)");
      if (out.dimension == 0) {
        out.dimension = vec->size();
        out.values.assign(inputs * out.dimension, 0.0f);
      } else if (vec->size() != out.dimension) {
        return bad("row " + std::to_string(i) + " has " + std::to_string(vec->size()) + " dimensions, another " +
                   std::to_string(out.dimension));
      }
      float* dst = out.values.data() + i * out.dimension;
      for (const json& v : *vec) {
        // A double beyond float's range becomes inf here and is refused like a null.
        const float f = v.is_number() ? static_cast<float>(v.get<double>()) : 0.0f;
        if (!v.is_number() || !std::isfinite(f))
          return bad("row " + std::to_string(i) + " holds a value that is not a finite number");
        *dst++ = f;
      }
    }
    if (auto u = doc.find("usage"); u != doc.end() && u->is_object())
      if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_unsigned())
        out.prompt_tokens = p->get<std::uint64_t>();
    return out;
  } catch (const std::exception& e) {
    return bad(std::string("malformed response (") + e.what() + ")");
  }
}

} // namespace detail

/// What an embedder has done besides its requests (see counters for those).
struct embed_counters {
  std::uint64_t texts = 0;              ///< texts embedded by calls that succeeded
  std::uint64_t estimated_requests = 0; ///< accepted responses without usage.prompt_tokens, whose tokens were estimated
};

/// An embedding_model over an OpenAI-compatible /v1/embeddings endpoint (see the header's notes).
///
/// embed(texts) splits the texts into requests of at most max_inputs_per_request inputs, sends them
/// through the shared request layer (at most max_in_flight at once; a 429, a 5xx or a dropped
/// connection retried with backoff; a 5xx repeating its body is deterministic and fails at once;
/// timeouts), and puts each response's rows back in input order by their `index`. A response is
/// rejected (engine_failure naming the fault, nothing of it counted) unless it holds exactly one
/// row per input, every index is an integer in range and appears once, every vector is a non-empty
/// array of finite numbers, and every vector of the call has one length. A call is all or nothing:
/// on any error no vector is returned. An empty text is sent as is (OpenAI rejects it with a 400,
/// which is then the call's engine_failure; llama-server and vLLM embed it).
///
/// Usage: `engine_calls` counts accepted responses, `prefilled_tokens` sums their
/// usage.prompt_tokens (estimated from the texts' lengths where a server omits it: counted in
/// embedded().estimated_requests); `generated_tokens` is 0. Failed attempts cost nothing.
///
/// Errors never contain client_params.api_key.
///
/// Thread safety: one thread at a time; each call opens its own connections. Movable, not copyable.
class embedder {
public:
  using reckon_model_concept = embedding_model_tag;

  /// An embedder talking to `client.url`. Throws reckon::exception (invalid_argument) for bad
  /// client parameters (as openai::model), an empty client.model (embeddings of different models
  /// are not comparable, and OpenAI requires the field; llama-server accepts any name), or a zero
  /// max_inputs_per_request or chars_per_estimated_token.
  embedder(client_params client, embed_params params) : transport_(std::move(client)), params_(params) {
    reckon::detail::require(!transport_.params().model.empty(),
                            "openai::embedder: client_params.model must name the embedding model");
    reckon::detail::require(params_.max_inputs_per_request > 0, "openai::embed_params.max_inputs_per_request must be > 0");
    reckon::detail::require(params_.chars_per_estimated_token > 0,
                            "openai::embed_params.chars_per_estimated_token must be > 0");
    // The layer builds its paths from one prefix (".../v1"); /embeddings sits beside /completions.
    std::string p = transport_.path(api::completions);
    path_ = p.substr(0, p.size() - std::string_view("/completions").size()) + "/embeddings";
  }
  explicit embedder(client_params client) : embedder(std::move(client), embed_params{}) {}

  /// One vector per text, in order (see the class notes). No text: an empty batch, no request.
  result<embedding_batch> embed(std::span<const std::string> texts) {
    embedding_batch out;
    if (texts.empty()) return out;
    const std::size_t per = params_.max_inputs_per_request;
    const std::size_t chunks = (texts.size() + per - 1) / per;
    std::vector<chunk_result> got(chunks);
    auto failed = transport_.for_each(chunks, [&](httplib::Client& client, std::size_t c) {
      const std::size_t first = c * per;
      return embed_chunk(client, texts.subspan(first, std::min(per, texts.size() - first)), got[c]);
    });
    if (!failed)
      for (std::size_t c = 1; c < chunks && !failed; ++c)
        if (got[c].dimension != got[0].dimension)
          failed = fail(errc::engine_failure, "openai::embedder: requests of one call returned vectors of " +
                                                  std::to_string(got[0].dimension) + " and " +
                                                  std::to_string(got[c].dimension) + " dimensions");
    for (const auto& g : got) extra_.estimated_requests += g.estimated ? 1 : 0; // accepted ones, even of a failed call
    if (failed) {
      transport_.count([](counters& t) { ++t.failed_calls; });
      return transport_.redact(std::move(*failed));
    }
    out.dimension = got[0].dimension;
    out.values.reserve(texts.size() * out.dimension);
    for (auto& g : got) {
      out.values.insert(out.values.end(), g.values.begin(), g.values.end());
      out.usage += g.usage;
    }
    extra_.texts += texts.size();
    return out;
  }

  /// The requests' counters (usage of every accepted response in delivered, including those of
  /// calls that failed later).
  [[nodiscard]] counters totals() const { return transport_.totals(); }
  /// Texts embedded and responses whose tokens were estimated.
  [[nodiscard]] const embed_counters& embedded() const noexcept { return extra_; }
  [[nodiscard]] const embed_params& params() const noexcept { return params_; }
  /// The request path, e.g. /v1/embeddings.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
  struct chunk_result {
    std::size_t dimension = 0;
    std::vector<float> values;
    reckon::usage usage;
    bool estimated = false; // accepted without usage.prompt_tokens
  };

  result<void> embed_chunk(httplib::Client& client, std::span<const std::string> texts, chunk_result& out) {
    using detail::json;
    json body{{"model", transport_.params().model}, {"input", json::array()}};
    for (const auto& t : texts) body["input"].push_back(t);
    if (params_.send_encoding_format) body["encoding_format"] = "float";
    bool deterministic = false;
    auto response = transport_.post(client, path_, body.dump(), &deterministic);
    if (!response) return response.error();
    auto reply = detail::read_embedding_reply(*response, texts.size());
    if (!reply) return reply.error();
    out.dimension = reply->dimension;
    out.values = std::move(reply->values);
    out.usage.engine_calls = 1;
    if (reply->prompt_tokens) {
      out.usage.prefilled_tokens = *reply->prompt_tokens;
    } else {
      for (const auto& t : texts)
        out.usage.prefilled_tokens += std::max<std::uint64_t>(1, (t.size() + params_.chars_per_estimated_token - 1) /
                                                                     params_.chars_per_estimated_token);
      out.estimated = true;
    }
    transport_.accept(out.usage, out.usage.prefilled_tokens);
    return {};
  }

  detail::transport transport_;
  embed_params params_;
  std::string path_;
  embed_counters extra_;
};

} // namespace reckon::openai
