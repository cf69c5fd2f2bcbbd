// SPDX-License-Identifier: Apache-2.0
// Compute-optimal scaling: a per-difficulty table of (method, n), fitted on one seed, run on another.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

int main() {
  namespace rt = reckon::testing;
  // Fit on a calibration suite (suite seed 11, run seed 11) that shares no problem with the run:
  // a table fitted and judged on the same problems would flatter itself.
  const auto cal = rt::make_suite("mixed", 11, 120).value();
  rt::synthetic_model cal_model(cal); // the policy, and its own PRM and ORM
  std::vector<reckon::calibration_problem> problems;
  for (const auto& q : cal.problems) problems.push_back({q.as_problem(), q.gold});
  // At most 8 samples a problem; 2 probes estimate the difficulty, cut into 5 quantile bins. A bin
  // keeps its own most accurate (method, n) only when that choice, fitted on half the bin, beats the
  // globally best one on the other half by more than 2 standard errors (two-fold cross-validation,
  // both ways); otherwise it takes the global best: ~24 problems a bin cannot tell noise from gain.
  auto table = reckon::fit_compute_optimal(cal_model, cal_model, std::span<const reckon::calibration_problem>(problems),
                                           reckon::compute_optimal_fit_params{.budget = 8, .probe = 2, .bins = 5, .seed = 11});
  if (!table) return fmt::print("fit error: {}\n", table.error()), 1;
  for (std::size_t b = 0; b < table->bins.size(); ++b)
    fmt::print("bin {} (estimate from {:.2f}): {} at n = {} (cross-validated accuracy {:.2f})\n", b,
               b == 0 ? 0.0 : table->edges[b - 1], reckon::to_string(table->bins[b].method), table->bins[b].n,
               table->bins[b].accuracy);

  // Run on the built-in suite with run seed 22; the fixed baseline is majority at the full n = 8.
  const auto suite = rt::make_suite("mixed").value();
  rt::synthetic_model model(suite);
  const reckon::compute_optimal co(reckon::compute_optimal_params{.table = *table});
  const reckon::self_consistency majority(reckon::self_consistency_params{.n = 8});
  const reckon::budget limit{.max_generated_tokens = 20'000};
  int co_right = 0, mv_right = 0;
  reckon::ledger co_cost, mv_cost;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 22, .problem = p.id});
    auto r = co.run(model, model, p, limit, stream); // the policy model and the reward model
    if (!r) return fmt::print("compute-optimal error: {}\n", r.error()), 1;
    auto m = majority.run(model, p, limit, stream);
    if (!m) return fmt::print("majority error: {}\n", m.error()), 1;
    // A trace event says which bin the probes landed in and what the table chose there.
    std::string_view chose = "?";
    for (const auto& e : r->trace)
      if (std::string_view(e.what).starts_with("estimate")) chose = e.what;
    fmt::print("problem {:2}: gold {:>5} | compute-optimal {:>5} ({:.2f}; {}) | majority {:>5} ({:.2f})\n", i, q.gold,
               r->answer.value_or("none"), r->confidence, chose, m->answer.value_or("none"), m->confidence);
    co_right += r->answer == q.gold ? 1 : 0;
    mv_right += m->answer == q.gold ? 1 : 0;
    co_cost += r->cost;
    mv_cost += m->cost;
  }
  fmt::print("\ncompute-optimal: {}/20 right\n  cost {}\n", co_right, co_cost);
  fmt::print("majority (n = 8): {}/20 right\n  cost {}\n", mv_right, mv_cost);
}
