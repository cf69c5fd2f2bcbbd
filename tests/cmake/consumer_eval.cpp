// SPDX-License-Identifier: Apache-2.0
// Built where the consumer's reckon has reckon::eval: a replay line read through nlohmann_json.
#include <reckon/testing/replay_model.hpp>

int main() {
  const auto data = reckon::testing::parse_replay(R"({"id": "p", "gold": "1", "samples": [{"answer": "1", "reward": 2.5}]})");
  return data && data->scale == reckon::testing::reward_scale::logit ? 0 : 1;
}
