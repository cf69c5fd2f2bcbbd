// SPDX-License-Identifier: Apache-2.0
// The request layer every OpenAI-compatible adapter shares: connection, retries, TLS, redaction, bounded fan-out.
#pragma once

// openai::model, openai::stepping_model and openai::judge all send their requests through one
// detail::transport, so that retries, the deterministic-5xx rule, timeouts, TLS and the API key's
// redaction are implemented once.

#include <reckon/adapters/detail/openai_wire.hpp>
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
  std::string url = "http://127.0.0.1:8080"; ///< base URL: http[s]://host[:port][/prefix]; "/v1" at the end is optional (https needs cpp-httplib built with OpenSSL)
  std::string model;                         ///< the request's "model" field (omitted when empty; llama-server ignores it)
  openai::api endpoint = openai::api::completions; ///< /v1/completions or /v1/chat/completions (stepping_model always uses /v1/completions)
  std::string api_key;                       ///< sent as "Authorization: Bearer <key>" when not empty; never written into an error message
  std::uint32_t max_n_per_request = 8;       ///< the server's cap on "n" (llama-server: its slot count); n is split into requests of at most this many (> 0)
  std::uint32_t max_in_flight = 4;           ///< requests in flight at once, per call (> 0)
  double timeout_seconds = 120.0;            ///< per request: longest silence while sending or reading before errc::timeout (> 0)
  double connect_timeout_seconds = 5.0;      ///< per attempt: time to open the connection (> 0)
  std::uint32_t max_retries = 3;             ///< extra attempts after a 429, a 5xx or a connection error (0: none)
  double backoff_seconds = 0.25;             ///< wait before the first retry; doubles each retry (>= 0)
  double max_backoff_seconds = 8.0;          ///< cap on one wait, also on a server's Retry-After (>= backoff_seconds)
  bool exact_token_counts = true;            ///< ask for per-token logprobs (width 1) even when no statistics are wanted, so that every completion's token count is exact
  bool one_request_per_completion = false;   ///< send each completion alone with seed request_seed(seed, i), so that completion i does not depend on n or on max_n_per_request
  std::uint32_t max_reseeds = 2;             ///< a completion the server fails deterministically is re-requested alone with up to this many derived seeds before the call fails (0: fail at once)
  bool verify_tls = true;                    ///< https: check the server's certificate and host name
  std::string ca_cert_path;                  ///< https: a PEM file of trusted CAs (empty: the system's store)
};

/// What an adapter has done over its lifetime (all calls), for accounting and tests.
struct counters {
  std::uint64_t attempts = 0;        ///< HTTP requests sent, retries included
  std::uint64_t retries = 0;         ///< attempts repeated after a 429, a 5xx or a connection error
  std::uint64_t accepted = 0;        ///< responses whose results were used
  std::uint64_t failed_calls = 0;    ///< calls that returned an error
  std::uint64_t isolated = 0;        ///< requests re-sent as n = 1 requests after a deterministic 5xx
  std::uint64_t reseeded = 0;        ///< completions re-requested with a derived seed after a deterministic 5xx
  std::uint64_t context_full = 0;    ///< stepping_model: sequences ended because their text no longer fit the server's context (a 400 exceed_context_size_error)
  reckon::usage delivered;           ///< usage of every accepted response, including those of calls that failed later (their results were dropped)
  std::uint64_t prompt_tokens = 0;   ///< prompt tokens of every accepted response, cached or not: 1 - delivered.prefilled_tokens / prompt_tokens is the prefix cache's measured saving
};

} // namespace reckon::openai

namespace reckon::openai::detail {

/// The words an error gives for a build without TLS.
inline constexpr const char* no_tls_message =
    "openai::client_params.url is https://, but this build of cpp-httplib has no TLS: it needs "
    "CPPHTTPLIB_OPENSSL_SUPPORT defined and OpenSSL linked (Debian: libcpp-httplib-dev and libssl-dev, "
    "with the Cflags of `pkg-config --cflags cpp-httplib`)";

/// Whether a 4xx body is llama-server's refusal of a prompt that does not fit a slot's context:
/// {"error": {"type": "exceed_context_size_error", "n_prompt_tokens": P, "n_ctx": C, ...}}.
[[nodiscard]] inline bool is_context_overflow(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("type") &&
         j["error"]["type"] == "exceed_context_size_error";
}

/// Runs `job(state, i)` for i in [0, count) on at most `threads` threads (the caller's thread when
/// that is 1); each thread makes its `state` once, with `make_state()`, before its first job.
/// After the first failure no new job starts. An exception from make_state or a job (nothing may
/// leave a worker thread) is that job's engine_failure, its message `who` + what(). @returns the
/// error of the lowest failing index, if any.
template <class MakeState, class Job>
std::optional<reckon::error> bounded_for_each(std::size_t count, std::size_t threads, const char* who, MakeState&& make_state,
                                              Job&& job) {
  std::vector<std::optional<reckon::error>> errors(count);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    std::optional<decltype(make_state())> state;
    for (;;) {
      if (stop.load()) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= count) return;
      result<void> done;
      try {
        if (!state) state.emplace(make_state());
        done = job(*state, i);
      } catch (const std::exception& e) {
        done = fail(errc::engine_failure, std::string(who) + e.what());
      } catch (...) {
        done = fail(errc::engine_failure, std::string(who) + "unknown exception");
      }
      if (!done) {
        errors[i] = done.error();
        stop.store(true);
      }
    }
  };
  const std::size_t n = std::min(threads, count);
  if (n <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(n);
    for (std::size_t t = 0; t < n; ++t) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  for (auto& e : errors)
    if (e) return std::move(e);
  return std::nullopt;
}

/// Connections, retries and accounting for one adapter. Movable, not copyable; counters are
/// guarded by a mutex, so requests may run on several threads at once.
class transport {
public:
  /// Validates `p` and parses its URL. Throws reckon::exception (invalid_argument) for an empty,
  /// non-http(s) or host-less URL, https without TLS support, a zero cap, or a non-positive or
  /// non-finite timeout or negative backoff.
  explicit transport(client_params p) : params_(std::move(p)) {
    const auto& q = params_;
    reckon::detail::require(q.max_n_per_request > 0, "openai::client_params.max_n_per_request must be > 0");
    reckon::detail::require(q.max_in_flight > 0, "openai::client_params.max_in_flight must be > 0");
    reckon::detail::require(std::isfinite(q.timeout_seconds) && q.timeout_seconds > 0.0,
                            "openai::client_params.timeout_seconds must be finite and > 0");
    reckon::detail::require(std::isfinite(q.connect_timeout_seconds) && q.connect_timeout_seconds > 0.0,
                            "openai::client_params.connect_timeout_seconds must be finite and > 0");
    reckon::detail::require(std::isfinite(q.backoff_seconds) && q.backoff_seconds >= 0.0 &&
                                std::isfinite(q.max_backoff_seconds) && q.max_backoff_seconds >= q.backoff_seconds,
                            "openai::client_params: need finite 0 <= backoff_seconds <= max_backoff_seconds");
    std::string scheme;
    if (q.url.rfind("http://", 0) == 0) scheme = "http://";
    else if (q.url.rfind("https://", 0) == 0) scheme = "https://";
    reckon::detail::require(!scheme.empty(), "openai::client_params.url must start with http:// or https://");
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT)
    reckon::detail::require(scheme == "http://", no_tls_message);
#endif
    const auto slash = q.url.find('/', scheme.size());
    host_ = q.url.substr(0, slash);
    reckon::detail::require(host_.size() > scheme.size(), "openai::client_params.url has no host");
    std::string prefix = slash == std::string::npos ? std::string() : q.url.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.size() < 3 || prefix.compare(prefix.size() - 3, 3, "/v1") != 0) prefix += "/v1";
    prefix_ = prefix;
  }

  [[nodiscard]] const client_params& params() const noexcept { return params_; }

  /// The request path of `endpoint`, e.g. /v1/completions.
  [[nodiscard]] std::string path(api endpoint) const {
    return prefix_ + (endpoint == api::completions ? "/completions" : "/chat/completions");
  }

  /// A connection to the server, configured (timeouts, keep-alive, key, TLS checks).
  [[nodiscard]] std::unique_ptr<httplib::Client> open() const {
    auto client = std::make_unique<httplib::Client>(host_);
    const auto [cs, cu] = split_seconds(params_.connect_timeout_seconds);
    const auto [ts, tu] = split_seconds(params_.timeout_seconds);
    client->set_connection_timeout(cs, cu);
    client->set_read_timeout(ts, tu);
    client->set_write_timeout(ts, tu);
    client->set_keep_alive(true);
    if (!params_.api_key.empty()) client->set_bearer_token_auth(params_.api_key);
#if defined(CPPHTTPLIB_OPENSSL_SUPPORT)
    client->enable_server_certificate_verification(params_.verify_tls);
    if (!params_.ca_cert_path.empty()) client->set_ca_cert_path(params_.ca_cert_path);
#endif
    return client;
  }

  /// `message` with every occurrence of the API key replaced by "[api_key]": a server may echo the
  /// Authorization header in an error body.
  [[nodiscard]] std::string redact(std::string message) const {
    const std::string& key = params_.api_key;
    if (key.empty()) return message;
    for (std::size_t at = message.find(key); at != std::string::npos; at = message.find(key, at))
      message.replace(at, key.size(), "[api_key]");
    return message;
  }
  /// The error with its message redacted.
  [[nodiscard]] reckon::error redact(reckon::error e) const {
    e.message = redact(std::move(e.message));
    return e;
  }

  /// Runs `job(client, i)` for i in [0, count) on at most max_in_flight threads, each with its own
  /// connection; after the first failure no new job starts. @returns the first failing job's error
  /// (lowest index), if any. `job` returns result<void>; an exception it throws (e.g. nlohmann's
  /// type_error for a prompt that is not UTF-8) becomes that job's engine_failure, since it cannot
  /// leave a worker thread.
  template <class Job>
  std::optional<reckon::error> for_each(std::size_t count, Job&& job) const {
    return bounded_for_each(count, params_.max_in_flight, "openai: ",
                                    [this] { return open(); },
                                    [&](std::unique_ptr<httplib::Client>& client, std::size_t i) { return job(*client, i); });
  }

  /// One request with retries; the body of a 200, or why not (redacted). A 5xx whose body repeats
  /// the previous attempt's is deterministic (it follows the request, not the load): no more
  /// retries, and *deterministic is set. `n`: the completions the request asks for (an HTTP 400 to
  /// n > 1 hints at max_n_per_request). A 400 for a prompt that does not fit the server's context
  /// is not retried (it follows the prompt); its error names the llama-server flags to change, and
  /// *overflow, when given, is set.
  result<std::string> post(httplib::Client& client, const std::string& path, const std::string& body,
                           bool* deterministic, std::uint32_t n = 1, bool* overflow = nullptr) {
    std::optional<std::string> last_5xx;
    for (std::uint32_t attempt = 0;; ++attempt) {
      {
        std::lock_guard lock(*mutex_);
        ++totals_.attempts;
        if (attempt > 0) ++totals_.retries;
      }
      const auto started = std::chrono::steady_clock::now();
      httplib::Result res = client.Post(path, body, "application/json");
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
          return redact(fail(errc::timeout, "openai: no answer from " + host_ + path + " within " +
                                                std::to_string(params_.timeout_seconds) + " s"));
        } else {
          why = fail(errc::engine_failure, "openai: request to " + host_ + path + " failed: " + httplib::to_string(err));
          // A TLS handshake or certificate failure is not transient.
          retry = err == httplib::Error::Connection || err == httplib::Error::Read || err == httplib::Error::Write;
        }
        client.stop(); // drop a half-dead keep-alive connection before the next attempt
      } else if (res->status == 200) {
        return std::move(res->body);
      } else {
        why = fail(errc::engine_failure, "openai: HTTP " + std::to_string(res->status) + " from " + host_ + path + ": " +
                                             excerpt(res->body));
        retry = res->status == 429 || (res->status >= 500 && res->status <= 599);
        if (res->status == 400 && n > 1)
          why->message += " (if the server caps n per request, as llama-server caps it at its slot count -np, "
                          "set client_params.max_n_per_request to that cap)";
        if (res->status == 400) {
          if (is_context_overflow(res->body)) {
            why->message += " (the prompt does not fit the server's context: llama-server gives each slot --ctx-size / "
                            "--parallel tokens; raise -c or lower -np)";
            if (overflow != nullptr) *overflow = true;
          }
        }
        if (res->status >= 500) {
          if (last_5xx && *last_5xx == res->body) {
            *deterministic = true;
            return redact(*why);
          }
          last_5xx = res->body;
        }
      }
      if (!retry || attempt >= params_.max_retries) {
        if (retry) why->message += " (after " + std::to_string(attempt + 1) + " attempts)";
        return redact(*why);
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff(attempt, res ? &res : nullptr)));
    }
  }

  /// One n = 1 request whose body depends on its seed: a deterministic 5xx re-sends it with the
  /// derived seeds request_seed(seed, r), r = 1 .. max_reseeds (counted once in reseeded), then
  /// fails naming `what`.
  /// `overflow` as in post.
  template <class BodyOf>
  result<std::string> post_reseeding(httplib::Client& client, const std::string& path, std::uint64_t seed,
                                     BodyOf&& body_of, const std::string& what,
                                     bool* overflow = nullptr) {
    for (std::uint32_t reseed = 0;; ++reseed) {
      bool deterministic = false;
      auto response =
          post(client, path, body_of(reseed == 0 ? seed : request_seed(seed, reseed)), &deterministic, 1, overflow);
      if (response || !deterministic) return response;
      if (reseed >= params_.max_reseeds) {
        reckon::error e = response.error();
        e.message += " (the same failure for " + what + " with " + std::to_string(reseed) + " derived seeds)";
        return e;
      }
      if (reseed == 0) count([](counters& c) { ++c.reseeded; });
    }
  }

  /// Updates the counters under the lock.
  template <class Edit>
  void count(Edit&& edit) {
    std::lock_guard lock(*mutex_);
    edit(totals_);
  }

  /// Records an accepted response's usage and its prompt tokens (cached or not).
  void accept(const reckon::usage& u, std::uint64_t prompt_tokens) {
    count([&](counters& c) {
      ++c.accepted;
      c.delivered += u;
      c.prompt_tokens += prompt_tokens;
    });
  }

  [[nodiscard]] counters totals() const {
    std::lock_guard lock(*mutex_);
    return totals_;
  }

  [[nodiscard]] const std::string& host() const noexcept { return host_; }

private:
  static std::pair<time_t, time_t> split_seconds(double s) {
    const auto whole = static_cast<time_t>(s);
    return {whole, static_cast<time_t>((s - static_cast<double>(whole)) * 1e6)};
  }

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

  client_params params_;
  std::string host_;   // scheme://host:port
  std::string prefix_; // e.g. /v1
  std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>(); // behind a pointer: the transport stays movable
  counters totals_;
};

} // namespace reckon::openai::detail
