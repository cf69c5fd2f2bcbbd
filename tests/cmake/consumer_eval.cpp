// SPDX-License-Identifier: Apache-2.0
// reckon::eval as a consumer uses it: a replay file read through nlohmann_json, and the registry's
// "majority" run on it.
#include <reckon/eval/registry.hpp>
#include <reckon/testing/replay_model.hpp>

#include <memory>

bool reckon_consumer_eval() {
  auto data = reckon::testing::parse_replay(
      R"({"id": "p", "gold": "1", "samples": [{"answer": "1"}, {"answer": "2"}, {"answer": "1"}]})");
  if (!data || data->problems.size() != 1) return false;
  const auto shared = std::make_shared<const reckon::testing::replay_data>(std::move(*data));
  reckon::testing::replay_model model(shared);
  reckon::eval::replay_meter metered(model);

  reckon::eval::strategy_registry registry;
  reckon::eval::register_builtin_strategies(registry);
  const auto* majority = registry.find("majority");
  if (majority == nullptr || !majority->replay) return false;
  const auto run = majority->replay(metered, shared->problems.front().as_problem(), reckon::eval::run_config{.budget = 3});
  return run && run->answer == "1";
}
