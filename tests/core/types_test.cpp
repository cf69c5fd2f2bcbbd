// SPDX-License-Identifier: Apache-2.0
#include <reckon/core/params.hpp>
#include <reckon/core/types.hpp>

#include <support/catch.hpp>

#include <limits>

TEST_CASE("stable_id is FNV-1a and stable", "[core][types]") {
  STATIC_REQUIRE(reckon::stable_id("") == 14695981039346656037ULL);
  STATIC_REQUIRE(reckon::stable_id("a") == 0xaf63dc4c8601ec8cULL); // FNV-1a 64 reference value
  CHECK(reckon::stable_id("problem-1") != reckon::stable_id("problem-2"));
}

TEST_CASE("token_stats appends steps column by column", "[core][types]") {
  reckon::token_stats a{.logprob = {-0.1f, -0.2f}, .entropy = {}, .varentropy = {}, .top_k = 2,
                        .top_logprobs = {-0.1f, -2.0f, -0.2f, -1.0f}};
  const reckon::token_stats b{.logprob = {-0.3f}, .entropy = {}, .varentropy = {}, .top_k = 2,
                              .top_logprobs = {-0.3f, -0.9f}};
  CHECK(a.size() == 2);
  a.append(b);
  CHECK(a.size() == 3);
  CHECK(a.logprob.back() == -0.3f);
  CHECK(a.top_logprobs.size() == 6);
  CHECK(reckon::token_stats{}.empty());
}

TEST_CASE("usage adds up", "[core][types]") {
  reckon::usage u{.prefilled_tokens = 10, .generated_tokens = 5, .engine_calls = 1};
  u += reckon::usage{.prefilled_tokens = 0, .generated_tokens = 7, .engine_calls = 1};
  CHECK(u == reckon::usage{.prefilled_tokens = 10, .generated_tokens = 12, .engine_calls = 2});
}

TEST_CASE("params validation rejects bad knobs", "[core][params]") {
  using reckon::errc;
  CHECK(reckon::validate(reckon::sampling_params{}).has_value());
  CHECK(reckon::validate(reckon::step_params{}).has_value());
  CHECK(reckon::validate(reckon::sampling_params{.max_tokens = 0}).error().code == errc::invalid_argument);
  CHECK_FALSE(reckon::validate(reckon::sampling_params{.temperature = -1.0f}).has_value());
  CHECK_FALSE(reckon::validate(reckon::sampling_params{.temperature = std::numeric_limits<float>::quiet_NaN()})
                  .has_value());
  CHECK_FALSE(reckon::validate(reckon::sampling_params{.top_p = 0.0f}).has_value());
  CHECK_FALSE(reckon::validate(reckon::sampling_params{.top_p = 1.5f}).has_value());
  CHECK_FALSE(reckon::validate(reckon::step_params{.max_step_tokens = 0}).has_value());
  CHECK_FALSE(reckon::validate(reckon::step_params{.delimiter = ""}).has_value());
  CHECK(reckon::validate(reckon::sampling_params{.temperature = 0.0f}).has_value()); // greedy is fine
  // regression #21.7: an empty stop string matched at once and gave empty completions
  CHECK(reckon::validate(reckon::sampling_params{.stop = {"A", ""}}).error().code == errc::invalid_argument);
  CHECK(reckon::validate(reckon::sampling_params{.stop = {"A", "\n\n"}}).has_value());
}
