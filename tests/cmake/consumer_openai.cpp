// SPDX-License-Identifier: Apache-2.0
// reckon::openai as a consumer uses it: one completion from a server on 127.0.0.1, then, with the
// server gone, the clean connection error (not an exception or a hang).
#include <reckon/adapters/openai.hpp>

#include <httplib.h>

#include <thread>

bool reckon_consumer_openai() {
  httplib::Server server;
  server.Post("/v1/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"choices": [{"text": " 42", "index": 0, "finish_reason": "stop",)"
                    R"( "logprobs": {"tokens": [" 42"], "token_logprobs": [-0.1], "top_logprobs": [{" 42": -0.1}]}}],)"
                    R"( "usage": {"prompt_tokens": 3, "completion_tokens": 1}})",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) return false;
  // The socket listens from bind_to_any_port on, so a request sent before the thread accepts waits
  // in the backlog (cpp-httplib 0.11 has no wait_until_ready).
  std::thread serving([&] { server.listen_after_bind(); });

  reckon::openai::client_params params;
  params.url = "http://127.0.0.1:" + std::to_string(port);
  params.max_retries = 0;
  params.timeout_seconds = 10.0;
  reckon::openai::model model(params);
  const reckon::problem prob{.id = 1, .prompt = "6 * 7 ="};
  const auto served = model.sample(prob, reckon::sampling_params{}, 1);
  server.stop();
  serving.join();
  if (!served || served->completions.size() != 1 || served->completions[0].text != " 42") return false;

  const auto refused = model.sample(prob, reckon::sampling_params{}, 1);
  return !refused && refused.error().code == reckon::errc::engine_failure;
}
