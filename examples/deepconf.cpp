// SPDX-License-Identifier: Apache-2.0
// DeepConf: vote only with the most confident traces; online, stop traces and sampling early.
#include <reckon/format.hpp>
#include <reckon/strategy/deepconf.hpp>
#include <reckon/strategy/self_consistency.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <fmt/format.h>

int main() {
  const auto suite = reckon::testing::make_suite("mixed", reckon::testing::default_suite_seed, 30).value();
  reckon::testing::synthetic_model model(suite); // serves top-20 logprobs per token

  // The paper's defaults: k = 20, keep the top 10% (DeepConf-low), 16 warm-up traces online. Its
  // 2048-token window is a small fraction of a reasoning trace; the synthetic traces average ~310
  // tokens, so the window keeps that proportion: 64 tokens (at 2048 no trace would be cut mid-way).
  // The model is a stepping model, so online DeepConf cuts a trace as soon as a window falls below
  // the threshold.
  reckon::deepconf_params params;
  params.n = 32;
  params.window = 64;
  const reckon::deepconf_offline_strategy offline(params);
  const reckon::deepconf_online_strategy online(params);
  const reckon::self_consistency majority({.n = 32});

  auto evaluate = [&](const char* name, auto run) {
    int correct = 0;
    double tokens = 0;
    for (const auto& q : suite.problems) {
      const reckon::problem p = q.as_problem();
      const reckon::result<reckon::strategy_result> r = run(p, reckon::random_stream({.seed = 1, .problem = p.id}));
      if (!r) {
        fmt::print("{}: {}\n", name, r.error());
        return false;
      }
      correct += r->answer == q.gold;
      tokens += static_cast<double>(r->cost.generated_tokens);
    }
    const double n = static_cast<double>(suite.problems.size());
    fmt::print("{:<17} accuracy {:.2f}  tokens/problem {:6.0f}\n", name, correct / n, tokens / n);
    return true;
  };
  const reckon::budget unlimited{};
  if (!evaluate("majority", [&](auto& p, auto s) { return majority.run(model, p, unlimited, s); }) ||
      !evaluate("deepconf offline", [&](auto& p, auto s) { return offline.run(model, p, unlimited, s); }) ||
      !evaluate("deepconf online", [&](auto& p, auto s) { return online.run(model, p, unlimited, s); }))
    return 1;

  // What online DeepConf did on one problem: the threshold, the cuts, the consensus stop.
  const reckon::problem p = suite.problems[1].as_problem();
  auto r = online.run(model, p, unlimited, reckon::random_stream({.seed = 1, .problem = p.id}));
  if (!r) return 1;
  for (const auto& e : r->trace) fmt::print("  round {}: {}\n", e.round, e.what);
  return 0;
}
