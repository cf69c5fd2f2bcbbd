// SPDX-License-Identifier: Apache-2.0
// The OpenAI wire reader's short top-k rows, as DeepConf's token confidence reads them.

// Built only where reckon::openai exists (nlohmann_json): tests/CMakeLists.txt defines
// RECKON_TEST_OPENAI for reckon_adapters_tests; elsewhere this file compiles to nothing.
#if defined(RECKON_TEST_OPENAI)

#include <reckon/adapters/detail/openai_wire.hpp>
#include <reckon/strategy/deepconf.hpp>

#include <support/catch.hpp>

#include <cmath>
#include <string>

TEST_CASE("regression #13.19d: top-k alternatives a server did not list add nothing to DeepConf's confidence",
          "[adapters][openai][deepconf]") {
  // top_logprobs = 4 asked; the server lists 2 alternatives for the first token and none for the
  // second. The reader pads the rows to width 4 with -inf; DeepConf averages the listed ones only
  // (before the fix each pad added 1e4 / k: C = 5001 instead of 2).
  const std::string body = R"({"choices": [{"index": 0, "text": "\\boxed{7}", "finish_reason": "stop",
    "logprobs": {"content": [
      {"token": "a", "logprob": -1.0, "top_logprobs": [{"token": "a", "logprob": -1.0}, {"token": "b", "logprob": -3.0}]},
      {"token": "c", "logprob": -0.25, "top_logprobs": []},
      {"token": "d", "logprob": -0.5, "top_logprobs": [{"token": "d", "logprob": -0.5}, {"token": "e", "logprob": -0.5},
                                                       {"token": "f", "logprob": -0.5}, {"token": "g", "logprob": -0.5}]}]}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3}})";
  auto parsed = reckon::openai::detail::parse_response(body, reckon::openai::api::completions);
  REQUIRE(parsed);
  REQUIRE(parsed->choices.size() == 1);
  reckon::adapters::detail::stats_request want;
  want.top_k = 4;
  const reckon::completion c = reckon::openai::detail::to_completion(std::move(parsed->choices[0]), want, 0);
  REQUIRE(c.stats.top_k == 4);
  REQUIRE(c.stats.top_logprobs.size() == 12);
  CHECK(std::isinf(c.stats.top_logprobs[2])); // the pads are -inf: p = 0, "not listed"
  const auto conf = reckon::deepconf::token_confidences(c.stats, 4);
  REQUIRE(conf.size() == 2); // the token with no alternative listed has no confidence
  CHECK(conf[0] == reckon::test::Approx(2.0).epsilon(1e-6));
  CHECK(conf[1] == reckon::test::Approx(0.5).epsilon(1e-6));
}

#endif
