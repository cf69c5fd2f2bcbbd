// SPDX-License-Identifier: Apache-2.0
// reckon::openai::model: a sampling + logprob model over any OpenAI-compatible server (vLLM, SGLang, llama-server).
#pragma once

// Opt-in: link reckon::openai (created only when cpp-httplib and nlohmann_json are found).
// reckon/reckon.hpp never includes this header.

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
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace reckon::openai {

/// How to reach a server and how hard to try. Every field has a usable default except `url`.
struct client_params {
  std::string url = "http://127.0.0.1:8080"; ///< base URL: scheme://host[:port][/prefix]; "/v1" at the end is optional
  std::string model;                         ///< the request's "model" field (omitted when empty; llama-server ignores it)
  openai::api endpoint = openai::api::completions; ///< /v1/completions or /v1/chat/completions
  std::string api_key;                       ///< sent as "Authorization: Bearer <key>" when not empty
  std::uint32_t max_n_per_request = 8;       ///< the server's cap on "n" (llama-server: its slot count); n is split into requests of at most this many (> 0)
  std::uint32_t max_in_flight = 4;           ///< requests in flight at once, per sample() call (> 0)
  double timeout_seconds = 120.0;            ///< per request: longest silence while sending or reading before errc::timeout (> 0)
  double connect_timeout_seconds = 5.0;      ///< per attempt: time to open the connection (> 0)
  std::uint32_t max_retries = 3;             ///< extra attempts after a 429, a 5xx or a connection error (0: none)
  double backoff_seconds = 0.25;             ///< wait before the first retry; doubles each retry (>= 0)
  double max_backoff_seconds = 8.0;          ///< cap on one wait, also on a server's Retry-After (>= backoff_seconds)
  bool exact_token_counts = true;            ///< ask for per-token logprobs (width 1) even when no statistics are wanted, so that every completion's token count is exact
  bool one_request_per_completion = false;   ///< send each completion alone with seed request_seed(seed, i), so that completion i does not depend on n or on max_n_per_request
  std::uint32_t max_reseeds = 2;             ///< a completion the server fails deterministically is re-requested alone with up to this many derived seeds (see model) before the call fails (0: fail at once)
};

/// What a model has done over its lifetime (all sample() calls), for accounting and tests.
struct counters {
  std::uint64_t attempts = 0;        ///< HTTP requests sent, retries included
  std::uint64_t retries = 0;         ///< attempts repeated after a 429, a 5xx or a connection error
  std::uint64_t accepted = 0;        ///< responses whose completions were used
  std::uint64_t failed_calls = 0;    ///< sample() calls that returned an error
  std::uint64_t isolated = 0;        ///< requests re-sent as n = 1 requests after a deterministic 5xx
  std::uint64_t reseeded = 0;        ///< completions re-requested with a derived seed after a deterministic 5xx
  reckon::usage delivered;           ///< usage of every accepted response, including those of calls that failed later (their completions were dropped)
};

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
/// Usage: `engine_calls` counts accepted responses; `prefilled_tokens` sums each response's
/// prompt_tokens less its cached_tokens; `generated_tokens` sums the completions' token counts
/// (exact from the per-token list; otherwise usage.completion_tokens split over the response's
/// choices in proportion to their characters). Failed attempts cost nothing in usage.
///
/// Thread safety: a model may be used from one thread at a time; each sample() call opens its own
/// connections. A model is movable (not copyable).
class model {
public:
  using reckon_model_concept = capabilities<sampling_model_tag, logprob_model_tag>;
  /// Widest top-k of logprobs served (OpenAI's cap; vLLM and llama-server allow at least this).
  static constexpr std::uint32_t logprob_top_k = 20;
  /// Entropy and varentropy are estimated from the top-k logprobs.
  static constexpr bool full_logits = false;

  /// A model talking to `params.url`. Throws reckon::exception (invalid_argument) for an empty or
  /// non-http URL, a zero cap, or a non-positive or non-finite timeout or negative backoff.
  explicit model(client_params params) : params_(std::move(params)) {
    const auto& p = params_;
    reckon::detail::require(p.max_n_per_request > 0, "openai::client_params.max_n_per_request must be > 0");
    reckon::detail::require(p.max_in_flight > 0, "openai::client_params.max_in_flight must be > 0");
    reckon::detail::require(std::isfinite(p.timeout_seconds) && p.timeout_seconds > 0.0,
                            "openai::client_params.timeout_seconds must be finite and > 0");
    reckon::detail::require(std::isfinite(p.connect_timeout_seconds) && p.connect_timeout_seconds > 0.0,
                            "openai::client_params.connect_timeout_seconds must be finite and > 0");
    reckon::detail::require(std::isfinite(p.backoff_seconds) && p.backoff_seconds >= 0.0 &&
                                std::isfinite(p.max_backoff_seconds) && p.max_backoff_seconds >= p.backoff_seconds,
                            "openai::client_params: need finite 0 <= backoff_seconds <= max_backoff_seconds");
    const std::string scheme = "http://";
    reckon::detail::require(p.url.rfind(scheme, 0) == 0,
                            "openai::client_params.url must start with http:// (this build has no TLS client)");
    const auto slash = p.url.find('/', scheme.size());
    host_ = p.url.substr(0, slash);
    reckon::detail::require(host_.size() > scheme.size(), "openai::client_params.url has no host");
    std::string prefix = slash == std::string::npos ? std::string() : p.url.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.size() < 3 || prefix.compare(prefix.size() - 3, 3, "/v1") != 0) prefix += "/v1";
    path_ = prefix + (p.endpoint == api::completions ? "/completions" : "/chat/completions");
  }

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
    const std::uint32_t wire_k = detail::wire_top_k(want, params_.exact_token_counts, logprob_top_k);

    // Chunks of consecutive completions, one request each (more if the server returns fewer).
    const std::uint32_t per = params_.one_request_per_completion ? 1U : params_.max_n_per_request;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> chunks; // {first, count}
    for (std::uint32_t first = 0; first < n; first += per) chunks.emplace_back(first, std::min(per, n - first));

    call_state state;
    state.out.resize(n);
    state.chunk_usage.resize(chunks.size());
    state.chunk_error.resize(chunks.size());

    auto worker = [&] {
      httplib::Client client(host_);
      configure(client);
      for (;;) {
        if (state.stop.load()) return;
        const std::size_t c = state.next.fetch_add(1);
        if (c >= chunks.size()) return;
        auto done = run_chunk(client, prob, params, want, wire_k, chunks[c].first, chunks[c].second, state,
                              state.chunk_usage[c]);
        if (!done) {
          state.chunk_error[c] = done.error();
          state.stop.store(true);
        }
      }
    };
    const std::size_t threads = std::min<std::size_t>(params_.max_in_flight, chunks.size());
    if (threads <= 1) {
      worker();
    } else {
      std::vector<std::thread> pool;
      pool.reserve(threads);
      for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
      for (auto& th : pool) th.join();
    }

    for (const auto& e : state.chunk_error)
      if (e) {
        std::lock_guard lock(*mutex_);
        ++totals_.failed_calls;
        return *e;
      }
    sample_batch batch;
    batch.completions = std::move(state.out);
    for (const auto& u : state.chunk_usage) batch.usage += u;
    return batch;
  }

  /// What this model has done so far (all calls, failed ones included).
  [[nodiscard]] counters totals() const {
    std::lock_guard lock(*mutex_);
    return totals_;
  }

  /// The parameters this model was built with.
  [[nodiscard]] const client_params& params() const noexcept { return params_; }

private:
  struct call_state {
    std::vector<completion> out;
    std::vector<reckon::usage> chunk_usage;
    std::vector<std::optional<reckon::error>> chunk_error;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> stop{false};
  };

  static std::pair<time_t, time_t> split_seconds(double s) {
    const auto whole = static_cast<time_t>(s);
    return {whole, static_cast<time_t>((s - static_cast<double>(whole)) * 1e6)};
  }

  void configure(httplib::Client& client) const {
    const auto [cs, cu] = split_seconds(params_.connect_timeout_seconds);
    const auto [ts, tu] = split_seconds(params_.timeout_seconds);
    client.set_connection_timeout(cs, cu);
    client.set_read_timeout(ts, tu);
    client.set_write_timeout(ts, tu);
    client.set_keep_alive(true);
    if (!params_.api_key.empty()) client.set_bearer_token_auth(params_.api_key);
  }

  // Completions [first, first + count): requests until all have arrived or one fails for good.
  result<void> run_chunk(httplib::Client& client, const problem& prob, const sampling_params& params,
                         const adapters::detail::stats_request& want, std::uint32_t wire_k, std::uint32_t first,
                         std::uint32_t count, call_state& state, reckon::usage& used) {
    std::uint32_t got = 0;
    bool alone = false;      // after a deterministic failure: one completion per request
    std::uint32_t reseed = 0; // derived seeds tried for the completion at `got`
    while (got < count) {
      if (state.stop.load()) return {}; // another chunk failed; the call will report that
      const std::uint32_t ask = alone ? 1U : count - got;
      const std::uint64_t own = request_seed(params.seed, first + got);
      const std::uint64_t seed = reseed == 0 ? own : request_seed(own, reseed);
      const std::string body =
          detail::request_body(params_.endpoint, params_.model, prob.prompt, params, ask, seed, wire_k).dump();
      bool deterministic = false;
      auto response = post_with_retries(client, body, &deterministic);
      if (!response) {
        if (!deterministic) return response.error();
        if (ask > 1) { // find the completion that fails: the others are good work
          alone = true;
          std::lock_guard lock(*mutex_);
          ++totals_.isolated;
          continue;
        }
        if (reseed >= params_.max_reseeds) {
          reckon::error e = response.error();
          e.message += " (the same failure for completion " + std::to_string(first + got) + " alone and with " +
                       std::to_string(reseed) + " derived seeds)";
          return e;
        }
        ++reseed;
        std::lock_guard lock(*mutex_);
        if (reseed == 1) ++totals_.reseeded;
        continue;
      }
      auto parsed = detail::parse_response(*response, params_.endpoint);
      if (!parsed) return parsed.error();
      auto& choices = parsed->choices;
      if (choices.empty()) return fail(errc::engine_failure, "server returned no choices: " + detail::excerpt(*response));
      if (choices.size() > ask)
        return fail(errc::engine_failure, "server returned " + std::to_string(choices.size()) + " choices for n = " +
                                              std::to_string(ask) + ": " + detail::excerpt(*response));
      const auto hints = token_hints(*parsed);
      reckon::usage u;
      u.engine_calls = 1;
      u.prefilled_tokens = parsed->prompt_tokens - parsed->cached_tokens;
      for (std::size_t i = 0; i < choices.size(); ++i) {
        completion c;
        try {
          c = detail::to_completion(std::move(choices[i]), want, hints[i]);
        } catch (const reckon::exception& e) {
          return fail(errc::engine_failure, "malformed logprobs (" + e.error().message + "): " + detail::excerpt(*response));
        }
        u.generated_tokens += c.tokens;
        c.source = first + got + i;
        state.out[first + got + i] = std::move(c);
      }
      got += static_cast<std::uint32_t>(choices.size());
      reseed = 0;
      used += u;
      std::lock_guard lock(*mutex_);
      ++totals_.accepted;
      totals_.delivered += u;
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

  static bool retryable_status(int status) { return status == 429 || (status >= 500 && status <= 599); }

  double backoff(std::uint32_t retry, const httplib::Result* res) const {
    double wait = params_.backoff_seconds * std::pow(2.0, static_cast<double>(retry));
    if (res != nullptr && *res && (*res)->has_header("Retry-After")) {
      const std::string v = (*res)->get_header_value("Retry-After");
      char* end = nullptr;
      const double after = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && std::isfinite(after) && after > wait) wait = after;
    }
    return std::min(wait, params_.max_backoff_seconds);
  }

  // One request with retries; the body of a 200, or why not. A 5xx whose body repeats the previous
  // attempt's is deterministic (it follows the request, not the load): no more retries, and
  // *deterministic is set.
  result<std::string> post_with_retries(httplib::Client& client, const std::string& body, bool* deterministic) {
    std::optional<std::string> last_5xx;
    for (std::uint32_t attempt = 0;; ++attempt) {
      {
        std::lock_guard lock(*mutex_);
        ++totals_.attempts;
        if (attempt > 0) ++totals_.retries;
      }
      const auto started = std::chrono::steady_clock::now();
      httplib::Result res = client.Post(path_, body, "application/json");
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::optional<reckon::error> why;
      bool retry = false;
      if (!res) {
        const auto err = res.error();
        if (err == httplib::Error::ConnectionTimeout) {
          // Retried like a refused connection: both say the server is not there yet.
          why = fail(errc::timeout, "openai: could not connect to " + host_ + " within " +
                                        std::to_string(params_.connect_timeout_seconds) + " s");
          retry = true;
        } else if (err == httplib::Error::Read && elapsed >= 0.95 * params_.timeout_seconds) {
          return fail(errc::timeout, "openai: no answer from " + host_ + path_ + " within " +
                                         std::to_string(params_.timeout_seconds) + " s");
        } else {
          why = fail(errc::engine_failure, "openai: request to " + host_ + path_ + " failed: " + httplib::to_string(err));
          retry = err == httplib::Error::Connection || err == httplib::Error::Read || err == httplib::Error::Write;
        }
        client.stop(); // drop a half-dead keep-alive connection before the next attempt
      } else if (res->status == 200) {
        return std::move(res->body);
      } else {
        why = fail(errc::engine_failure, "openai: HTTP " + std::to_string(res->status) + " from " + host_ + path_ +
                                             ": " + detail::excerpt(res->body));
        retry = retryable_status(res->status);
        if (res->status == 400 && params_.max_n_per_request > 1)
          why->message += " (if the server caps n per request, as llama-server caps it at its slot count -np, "
                          "set client_params.max_n_per_request to that cap)";
        if (res->status >= 500) {
          if (last_5xx && *last_5xx == res->body) {
            *deterministic = true;
            return *why;
          }
          last_5xx = res->body;
        }
      }
      if (!retry || attempt >= params_.max_retries) {
        if (retry) why->message += " (after " + std::to_string(attempt + 1) + " attempts)";
        return *why;
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff(attempt, res ? &res : nullptr)));
    }
  }

  client_params params_;
  std::string host_; // scheme://host:port
  std::string path_; // e.g. /v1/completions
  std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>(); // behind a pointer: the model stays movable
  counters totals_;
};

} // namespace reckon::openai
