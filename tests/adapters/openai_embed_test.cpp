// SPDX-License-Identifier: Apache-2.0
// reckon::openai::embedder against a real HTTP server on 127.0.0.1 serving /v1/embeddings in OpenAI's shape, and faults.

// Built only where reckon::openai exists (RECKON_TEST_OPENAI, as openai_test.cpp).
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/openai_embed.hpp>
#include <reckon/concepts/embedding_model.hpp>

#include "openai_fixture.hpp"

#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using reckon::errc;
namespace oa = reckon::openai;

static_assert(reckon::embedding_model<oa::embedder>);

// The fixture server on /v1/embeddings, with a good reply in OpenAI's shape and a tally of it.
struct embed_fixture_server : reckon::test::openai_fixture_server {
  explicit embed_fixture_server(handler_fn h) : openai_fixture_server(std::move(h), {}, {}, {"/v1/embeddings"}) {}

  // A good response to `request`: text t's vector is vector_of(t); rows listed last index first
  // (the client must reorder them); prompt_tokens = the texts' lengths summed, tallied as served.
  void serve(const json& request, httplib::Response& res, bool with_usage = true) {
    const auto& input = request.at("input");
    json data = json::array();
    std::uint64_t tokens = 0;
    for (std::size_t k = input.size(); k-- > 0;) {
      const std::string t = input[k].get<std::string>();
      data.push_back({{"object", "embedding"}, {"index", k}, {"embedding", vector_of(t)}});
      tokens += t.size();
    }
    json body{{"object", "list"}, {"model", request.value("model", "")}, {"data", data}};
    if (with_usage) body["usage"] = {{"prompt_tokens", tokens}, {"total_tokens", tokens}};
    {
      std::lock_guard lock(m);
      ++ok_responses;
      served_tokens += tokens;
    }
    res.status = 200;
    res.set_content(body.dump(), "application/json");
  }

  static std::vector<float> vector_of(const std::string& t) {
    return {static_cast<float>(t.size()), t.empty() ? 0.0f : static_cast<float>(t[0]), 0.5f};
  }

  std::uint64_t ok_responses = 0;
  std::uint64_t served_tokens = 0;
};

oa::client_params embed_client(const embed_fixture_server& s) {
  oa::client_params p;
  p.url = s.url();
  p.model = "embedder-test";
  p.max_retries = 2;
  p.backoff_seconds = 0.0;
  p.max_backoff_seconds = 0.05;
  p.timeout_seconds = 5.0;
  p.connect_timeout_seconds = 2.0;
  return p;
}

// Every row must be its own text's vector, in input order.
void check_rows(const reckon::embedding_batch& b, const std::vector<std::string>& texts) {
  REQUIRE(b.size() == texts.size());
  REQUIRE(b.dimension == 3);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto want = embed_fixture_server::vector_of(texts[i]);
    const auto row = b.row(i);
    CHECK(std::vector<float>(row.begin(), row.end()) == want);
  }
}

// What the client saw must equal what the server served: nothing lost, nothing counted twice.
void check_embed_accounting(embed_fixture_server& s, const oa::embedder& e, const reckon::usage& seen) {
  std::lock_guard lock(s.m);
  CHECK(seen.engine_calls == s.ok_responses);
  CHECK(seen.prefilled_tokens == s.served_tokens);
  CHECK(seen.generated_tokens == 0);
  CHECK(e.totals().delivered == seen);
}

const std::vector<std::string> five{"alpha", "be", "", "gamma delta", "e"};

} // namespace

TEST_CASE("openai::embedder: batches split by max_inputs_per_request, rows back in index order", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    server.serve(req, res);
  });
  auto cp = embed_client(server);
  cp.max_in_flight = 2;
  cp.url = server.url() + "/v1/";
  oa::embedder e(cp, {.max_inputs_per_request = 2});
  CHECK(e.path() == "/v1/embeddings");
  auto r = e.embed(five);
  REQUIRE(r);
  check_rows(*r, five);
  CHECK(r->usage.engine_calls == 3);
  CHECK(r->usage.prefilled_tokens == 5 + 2 + 0 + 11 + 1);
  check_embed_accounting(server, e, r->usage);
  CHECK(server.max_in_flight.load() <= 2);
  CHECK(e.embedded().texts == 5);
  CHECK(e.embedded().estimated_requests == 0);
  std::lock_guard lock(server.m);
  REQUIRE(server.requests.size() == 3);
  std::vector<std::size_t> sizes;
  for (const auto& q : server.requests) {
    CHECK(q.at("model") == "embedder-test");
    CHECK(q.at("encoding_format") == "float");
    sizes.push_back(q.at("input").size());
  }
  std::sort(sizes.begin(), sizes.end());
  CHECK(sizes == std::vector<std::size_t>{1, 2, 2});
}

TEST_CASE("openai::embedder: no texts is an empty batch without a request", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) { server.serve(req, res); });
  oa::embedder e(embed_client(server));
  auto r = e.embed({});
  REQUIRE(r);
  CHECK(r->size() == 0);
  CHECK(r->usage == reckon::usage{});
  CHECK(server.calls.load() == 0);
}

TEST_CASE("openai::embedder: 429 and 503 are retried; nothing is lost or counted twice", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int call, httplib::Response& res) {
    if (call == 0) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error":{"message":"slow down"}})", "application/json");
    } else if (call == 1) {
      res.status = 503;
      res.set_content("overloaded", "text/plain");
    } else {
      server.serve(req, res);
    }
  });
  oa::embedder e(embed_client(server));
  auto r = e.embed(five);
  REQUIRE(r);
  check_rows(*r, five);
  CHECK(e.totals().attempts == 3);
  CHECK(e.totals().retries == 2);
  CHECK(r->usage.engine_calls == 1);
  check_embed_accounting(server, e, r->usage);
}

TEST_CASE("openai::embedder: a 5xx that outlives the retries, or repeats its body, is an engine_failure", "[adapters][openai_embed]") {
  SECTION("transient: a different body each time, max_retries + 1 attempts") {
    embed_fixture_server server([](const json&, int call, httplib::Response& res) {
      res.status = 503;
      res.set_content("overloaded, attempt " + std::to_string(call), "text/plain");
    });
    oa::embedder e(embed_client(server));
    auto r = e.embed(five);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(r.error().message.find("after 3 attempts") != std::string::npos);
    CHECK(server.calls.load() == 3);
    CHECK(e.totals().failed_calls == 1);
    CHECK(e.totals().delivered == reckon::usage{});
  }
  SECTION("deterministic: the same body twice stops the retries") {
    // llama-server's answer to an input longer than its physical batch.
    embed_fixture_server server([](const json&, int, httplib::Response& res) {
      res.status = 500;
      res.set_content(R"({"error":{"message":"input (900 tokens) is too large to process"}})", "application/json");
    });
    oa::embedder e(embed_client(server));
    auto r = e.embed(five);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("HTTP 500") != std::string::npos);
    CHECK(r.error().message.find("too large") != std::string::npos);
    CHECK(server.calls.load() == 2);
  }
}

TEST_CASE("openai::embedder: a slow response is a timeout", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    server.serve(req, res);
  });
  auto cp = embed_client(server);
  cp.timeout_seconds = 0.2;
  oa::embedder e(cp);
  const auto started = std::chrono::steady_clock::now();
  auto r = e.embed(five);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::timeout);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(700));
  CHECK(server.calls.load() == 1);
}

TEST_CASE("openai::embedder: a dropped connection is retried and counted once", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int call, httplib::Response& res) {
    if (call == 0) {
      // Promise 1000 bytes, send 8, then drop the connection.
      res.set_content_provider(1000, "application/json", [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
        if (offset == 0) {
          sink.write("{\"data\":", 8);
          return true;
        }
        return false;
      });
      return;
    }
    server.serve(req, res);
  });
  oa::embedder e(embed_client(server));
  auto r = e.embed(five);
  REQUIRE(r);
  check_rows(*r, five);
  CHECK(e.totals().retries == 1);
  check_embed_accounting(server, e, r->usage);
}

TEST_CASE("openai::embedder: malformed or inconsistent bodies are engine failures, not retried, not counted",
          "[adapters][openai_embed]") {
  struct bad_body {
    std::string body;
    std::string named; // what the error must name
  };
  // Responses to the two inputs {"a", "b"}.
  const bad_body b = GENERATE(
      bad_body{"{not json", "malformed response"}, bad_body{R"({"data": 3})", "no \"data\" array"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}]})", "1 rows for 2 inputs"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [1, 2]}, {"index": 2, "embedding": [1, 2]}]})",
               "3 rows for 2 inputs"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 0, "embedding": [3, 4]}]})", "index 0 appears twice"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 2, "embedding": [3, 4]}]})", "index 2 is out of range"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": -1, "embedding": [3, 4]}]})", "out of range"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"embedding": [3, 4]}]})", "no integer \"index\""},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [3, null]}]})", "not a finite number"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [3, NaN]}]})", "malformed response"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [3, "4"]}]})", "not a finite number"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [3, 1e300]}]})", "not a finite number"},
      bad_body{R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 1, "embedding": [3, 4, 5]}]})", "3 dimensions, another 2"},
      bad_body{R"({"data": [{"index": 0, "embedding": []}, {"index": 1, "embedding": []}]})", "no \"embedding\" array"},
      bad_body{R"({"data": [{"index": 0, "embedding": "AACAPw=="}, {"index": 1, "embedding": "AACAPw=="}]})",
               "no \"embedding\" array"});
  embed_fixture_server server([&](const json&, int, httplib::Response& res) {
    res.status = 200;
    res.set_content(b.body, "application/json");
  });
  oa::embedder e(embed_client(server));
  const std::vector<std::string> two{"a", "b"};
  auto r = e.embed(two);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(r.error().message.find(b.named) != std::string::npos);
  CHECK(server.calls.load() == 1);
  CHECK(e.totals().delivered == reckon::usage{});
  CHECK(e.totals().accepted == 0);
}

TEST_CASE("regression #19.2: an index above INT64_MAX is named as sent, not as a negative number", "[adapters][openai_embed]") {
  // Read as int64, 9223372036854775808 wrapped and the error named index -9223372036854775808.
  auto r = oa::detail::read_embedding_reply(
      R"({"data": [{"index": 0, "embedding": [1, 2]}, {"index": 9223372036854775808, "embedding": [3, 4]}]})", 2);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(r.error().message.find("index 9223372036854775808 is out of range for 2 inputs") != std::string::npos);
  auto huge = oa::detail::read_embedding_reply(R"({"data": [{"index": 18446744073709551615, "embedding": [3, 4]}]})", 1);
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message.find("index 18446744073709551615 is out of range for 1 inputs") != std::string::npos);
  // In range, the rows land where their indices say.
  auto good = oa::detail::read_embedding_reply(
      R"({"data": [{"index": 1, "embedding": [3, 4]}, {"index": 0, "embedding": [1, 2]}], "usage": {"prompt_tokens": 5}})", 2);
  REQUIRE(good);
  CHECK(good->dimension == 2);
  CHECK(good->values == std::vector<float>{1, 2, 3, 4});
  CHECK(good->prompt_tokens == std::optional<std::uint64_t>{5});
}

TEST_CASE("openai::embedder: requests of one call with different dimensions fail the call", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) {
    if (req.at("input").size() == 1) {
      res.status = 200;
      res.set_content(R"({"data": [{"index": 0, "embedding": [1, 2]}], "usage": {"prompt_tokens": 1}})", "application/json");
      return;
    }
    server.serve(req, res);
  });
  auto cp = embed_client(server);
  cp.max_in_flight = 1;
  oa::embedder e(cp, {.max_inputs_per_request = 2});
  auto r = e.embed(five); // requests of 2, 2, 1: the last answers 2 dimensions, the others 3
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(r.error().message.find("3 and 2 dimensions") != std::string::npos);
  CHECK(e.totals().failed_calls == 1);
}

TEST_CASE("openai::embedder: a call that fails part-way keeps what the server did in totals()", "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) {
    if (req.at("input").size() == 1) {
      res.status = 400;
      res.set_content(R"({"error":{"message":"Input content cannot be empty"}})", "application/json");
      return;
    }
    server.serve(req, res);
  });
  auto cp = embed_client(server);
  cp.max_in_flight = 1; // requests run in order: {2, 2, 1}; the last fails
  oa::embedder e(cp, {.max_inputs_per_request = 2});
  auto r = e.embed(five);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("HTTP 400") != std::string::npos);
  CHECK(server.calls.load() == 3); // a 400 is not retried
  const auto t = e.totals();
  CHECK(t.failed_calls == 1);
  CHECK(t.accepted == 2);
  CHECK(e.embedded().texts == 0);
  std::lock_guard lock(server.m);
  CHECK(t.delivered.engine_calls == server.ok_responses);
  CHECK(t.delivered.prefilled_tokens == server.served_tokens);
}

TEST_CASE("openai::embedder: a response without usage.prompt_tokens is charged an estimate, counted as such",
          "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) { server.serve(req, res, false); });
  oa::embedder e(embed_client(server), {.max_inputs_per_request = 8, .chars_per_estimated_token = 4});
  auto r = e.embed(five);
  REQUIRE(r);
  check_rows(*r, five);
  // ceil(chars / 4), at least 1: alpha 2, be 1, "" 1, "gamma delta" 3, e 1.
  CHECK(r->usage.prefilled_tokens == 8);
  CHECK(e.embedded().estimated_requests == 1);
  CHECK(e.totals().delivered == r->usage);
}

TEST_CASE("openai::embedder: misuse is reported at construction, before any request", "[adapters][openai_embed]") {
  auto bad = [](auto edit, oa::embed_params ep = {}) {
    oa::client_params p;
    p.model = "m";
    edit(p);
    try {
      oa::embedder e(p, ep);
    } catch (const reckon::exception& ex) {
      return ex.code() == errc::invalid_argument;
    }
    return false;
  };
  CHECK(bad([](oa::client_params& p) { p.model.clear(); }));
  CHECK(bad([](oa::client_params& p) { p.url = "ftp://x"; }));
  CHECK(bad([](oa::client_params& p) { p.url = "http://"; }));
  CHECK(bad([](oa::client_params& p) { p.max_in_flight = 0; }));
  CHECK(bad([](oa::client_params& p) { p.timeout_seconds = 0; }));
  CHECK(bad([](oa::client_params&) {}, {.max_inputs_per_request = 0}));
  CHECK(bad([](oa::client_params&) {}, {.chars_per_estimated_token = 0}));
  CHECK_FALSE(bad([](oa::client_params& p) { p.url = "http://127.0.0.1:1/v1/"; }));
}

TEST_CASE("openai::embedder: a text that is not UTF-8 is an engine failure, not std::terminate in a worker thread",
          "[adapters][openai_embed]") {
  embed_fixture_server server([&](const json& req, int, httplib::Response& res) { server.serve(req, res); });
  auto cp = embed_client(server);
  cp.max_in_flight = 2;
  oa::embedder e(cp, {.max_inputs_per_request = 1});
  const std::vector<std::string> texts{"fine", std::string("\xff\xfe bad"), "fine too"};
  auto r = e.embed(texts);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::engine_failure);
  CHECK(e.embedded().texts == 0);
}

TEST_CASE("openai::embedder: the API key is sent and stays out of error messages", "[adapters][openai_embed]") {
  const std::string key = "sk-embed-secret-123";
  embed_fixture_server server([&](const json&, int, httplib::Response& res) {
    res.status = 401;
    res.set_content(R"({"error":{"message":"bad key )" + key + R"("}})", "application/json");
  });
  auto cp = embed_client(server);
  cp.api_key = key;
  oa::embedder e(cp);
  auto r = e.embed(five);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find(key) == std::string::npos);
  CHECK(r.error().message.find("[api_key]") != std::string::npos);
  std::lock_guard lock(server.m);
  CHECK(server.authorizations.at(0) == "Bearer " + key);
}

#endif // RECKON_TEST_OPENAI
