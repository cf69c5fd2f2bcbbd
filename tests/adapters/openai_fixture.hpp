// SPDX-License-Identifier: Apache-2.0
// A real HTTP(S) server on 127.0.0.1 for the OpenAI adapters' tests: the test sets its handler; it records what it got.
#pragma once

#include <support/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace reckon::test {

/// Serves POST /v1/completions and /v1/chat/completions (or the given `routes`: paths or
/// cpp-httplib path patterns, e.g. "/v1/embeddings", "/pooling", "/.*") on a free port of 127.0.0.1
/// (https when given a certificate and key, where cpp-httplib has TLS). Counts calls and requests
/// in flight, and keeps every request's path, JSON body and Authorization header; a body that is
/// not JSON is answered 400 without calling the handler.
struct openai_fixture_server {
  using json = nlohmann::json;
  using handler_fn = std::function<void(const json& request, int call, httplib::Response&)>;

  explicit openai_fixture_server(handler_fn h, const std::string& cert_path = {}, const std::string& key_path = {},
                                 const std::vector<std::string>& routes = {"/v1/completions", "/v1/chat/completions"})
      : handler(std::move(h)) {
    if (!cert_path.empty()) {
#if defined(CPPHTTPLIB_OPENSSL_SUPPORT)
      server = std::make_unique<httplib::SSLServer>(cert_path.c_str(), key_path.c_str());
      tls = true;
#else
      (void)key_path;
      FAIL("openai_fixture_server: https asked of a cpp-httplib without TLS");
#endif
    } else {
      server = std::make_unique<httplib::Server>();
    }
    REQUIRE(server->is_valid());
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      const int call = calls.fetch_add(1);
      const int now = ++in_flight;
      int seen = max_in_flight.load();
      while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {}
      json request;
      try {
        request = json::parse(req.body);
      } catch (...) {
        res.status = 400;
      }
      {
        std::lock_guard lock(m);
        paths.push_back(req.path);
        requests.push_back(request);
        authorizations.push_back(req.get_header_value("Authorization"));
      }
      if (res.status != 400) handler(request, call, res);
      --in_flight;
    };
    for (const auto& r : routes) server->Post(r, route);
    port = server->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
    for (int i = 0; i < 500 && !server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE(server->is_running());
  }
  ~openai_fixture_server() {
    server->stop();
    thread.join();
  }
  openai_fixture_server(const openai_fixture_server&) = delete;
  openai_fixture_server& operator=(const openai_fixture_server&) = delete;

  [[nodiscard]] std::string url() const { return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port); }

  handler_fn handler;
  std::unique_ptr<httplib::Server> server;
  bool tls = false;
  std::thread thread;
  int port = 0;
  std::atomic<int> calls{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::mutex m;
  std::vector<std::string> paths;
  std::vector<json> requests;
  std::vector<std::string> authorizations;
};

} // namespace reckon::test
