// SPDX-License-Identifier: Apache-2.0
// ODAR: a fitted difficulty router sends easy problems to a cheap fast agent, hard ones to a slow one.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <Eigen/Core>

#include <cstddef>
#include <vector>

int main() {
  namespace rt = reckon::testing;
  const auto suite = rt::make_suite("mixed").value();
  // Two agents over the same problems: fast errs 1.6x as often at 0.25 per token, slow errs half
  // as often at 1 per token. ODAR's bill is in cost-weighted tokens.
  rt::synthetic_model fast(suite, {.agent = rt::fast_agent()});
  rt::synthetic_model slow(suite, {.agent = rt::slow_agent()});

  // The router must be fitted: on other problems (a calibration suite, another seed), probe with
  // the fast agent and learn P(the fast answer is wrong) from the probes' features.
  const auto cal = rt::make_suite("mixed", suite.seed + 1, 200).value();
  rt::synthetic_model cal_fast(cal, {.agent = rt::fast_agent()});
  reckon::odar_params params{.high = 0.8};
  Eigen::MatrixXd x(static_cast<Eigen::Index>(cal.problems.size()), static_cast<Eigen::Index>(reckon::odar_features::size));
  std::vector<int> wrong;
  const reckon::odar prober(params); // unfitted: only its probe is used here
  for (std::size_t i = 0; i < cal.problems.size(); ++i) {
    const reckon::problem p = cal.problems[i].as_problem();
    auto pr = prober.probe(cal_fast, p, reckon::budget{}, reckon::random_stream({.seed = 1, .problem = p.id}));
    if (!pr) return fmt::print("probe error: {}\n", pr.error()), 1;
    x.row(static_cast<Eigen::Index>(i)) = pr->features.vector().transpose();
    wrong.push_back(pr->answer == cal.problems[i].gold ? 0 : 1);
  }
  auto router = reckon::fit_difficulty_model(x, wrong);
  if (!router) return fmt::print("fit error: {}\n", router.error()), 1;
  params.router = *router;
  // d < 0.3: the fast answer; up to 0.8: one slow sample verifies it; above: slow best-of-5.
  const reckon::odar od(params);
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
