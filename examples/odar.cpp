// SPDX-License-Identifier: Apache-2.0
// ODAR: a fitted difficulty router sends easy problems to a cheap fast agent, hard ones to a slow one.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <vector>

int main() {
  namespace rt = reckon::testing;
  const auto suite = rt::make_suite("mixed").value();
  // Two agents over the same problems: fast errs 1.6x as often at 0.25 per token, slow errs half
  // as often at 1 per token. ODAR's bill is in cost-weighted tokens.
  rt::synthetic_model fast(suite, {.agent = rt::fast_agent()});
  rt::synthetic_model slow(suite, {.agent = rt::slow_agent()});

  // The router and its thresholds are fitted on other problems (a calibration suite, another
  // seed): the difficulty model learns P(the fast answer is wrong) from the fast probes' features;
  // the thresholds maximise calibration accuracy - 0.25 * (cost share of always going slow).
  const auto cal = rt::make_suite("mixed", suite.seed + 1, 200).value();
  rt::synthetic_model cal_fast(cal, {.agent = rt::fast_agent()});
  rt::synthetic_model cal_slow(cal, {.agent = rt::slow_agent()});
  std::vector<reckon::calibration_problem> problems;
  for (const auto& q : cal.problems) problems.push_back({q.as_problem(), q.gold});
  auto fit = reckon::fit_odar_router(cal_fast, cal_slow, problems, reckon::odar_fit_params{});
  if (!fit) return fmt::print("fit error: {}\n", fit.error()), 1;
  fmt::print("fitted: low {:.3f}, high {:.3f}; on calibration {:.3f} accuracy at {:.0f}% of the always-slow cost "
             "(always slow {:.3f}, always fast {:.3f})\n\n",
             fit->params.low, fit->params.high, fit->accuracy, 100 * fit->cost_share, fit->slow_accuracy,
             fit->fast_accuracy);
  // d < low: the fast answer; up to high: slow samples verify it (2 agreeing, a majority); above: slow best-of-5.
  const reckon::odar od(fit->params);
  const reckon::free_energy_fusion slow5(reckon::free_energy_fusion_params{.n = 5}); // the always-slow baseline

  const reckon::budget limit{.max_generated_tokens = 20'000};
  const char* route_name[] = {"fast", "verified", "slow"};
  int od_right = 0, base_right = 0, routes[3] = {0, 0, 0};
  double od_weighted = 0, base_weighted = 0;
  reckon::ledger od_cost;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 2, .problem = p.id});
    auto r = od.run(fast, slow, p, limit, stream); // the budget covers both agents together
    if (!r) return fmt::print("odar error: {}\n", r.error()), 1;
    auto b = slow5.run(slow, p, limit, stream);
    if (!b) return fmt::print("slow best-of-5 error: {}\n", b.error()), 1;
    const auto route = static_cast<std::size_t>(r->route);
    fmt::print("problem {:2}: gold {:>5} | odar {:>5} ({:.2f}, d {:.2f}, {:8}) | slow best-of-5 {:>5} ({:.2f})\n", i, q.gold,
               r->answer.value_or("none"), r->confidence, r->difficulty, route_name[route], b->answer.value_or("none"),
               b->confidence);
    ++routes[route];
    od_right += r->answer == q.gold ? 1 : 0;
    base_right += b->answer == q.gold ? 1 : 0;
    od_weighted += r->weighted_tokens; // fast tokens x 0.25 + slow tokens x 1
    base_weighted += static_cast<double>(b->cost.total_tokens()) * slow.cost_per_token();
    od_cost += r->cost;
  }
  // ODAR's ledger adds both agents' raw tokens; the weighted total is what they cost.
  fmt::print("\nodar:           {}/20 right, routes fast {} verified {} slow {}, {:.0f} cost-weighted tokens\n  cost {}\n",
             od_right, routes[0], routes[1], routes[2], od_weighted, od_cost);
  fmt::print("slow best-of-5: {}/20 right, {:.0f} cost-weighted tokens\n", base_right, base_weighted);
}
