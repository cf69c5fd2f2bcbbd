// SPDX-License-Identifier: Apache-2.0
// The demo: the accuracy-vs-compute frontier of reckon's strategies (one or two of each family; the
// reducer variants are left to reckon-eval) on the synthetic `mixed` suite, printed as a table and
// written as frontier.svg and frontier.csv.
// Usage: demo [output folder, default "."] [problems, default all 300]
#include <reckon/eval/harness.hpp>
#include <reckon/eval/strategies.hpp>
#include <reckon/eval/report.hpp>
#include <reckon/testing/suite.hpp>
#include <reckon/version.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  const std::string out_dir = argc > 1 ? argv[1] : ".";
  const std::size_t problems = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 0;
  const auto& registry = reckon::eval::default_registry();

  reckon::eval::grid_params grid;
  for (const char* name : {"majority", "adaptive-sc", "esc", "weighted-majority", "best-of-n:prm-last",
                           "weighted-best-of-n:prm-last", "deepconf-offline", "deepconf-online", "particle-filter",
                           "beam-search", "dvts", "rebase", "ets", "particle-gibbs", "short-1", "short-3", "prism", "revisions",
                           "zip-rc", "odar", "compute-optimal"})
    if (const auto* e = registry.find(name); e != nullptr && e->synthetic) grid.strategies.push_back(e->name);
  grid.budgets = {1, 2, 4, 8, 16, 32};
  grid.seed = 2026;
  grid.problems = problems;
  const auto suite = reckon::testing::make_suite("mixed").value();

  fmt::print("reckon {} demo: {} strategies x {} budgets on the synthetic 'mixed' suite\n", reckon::version_string,
             grid.strategies.size(), grid.budgets.size());
  const auto start = std::chrono::steady_clock::now();
  const auto rows = reckon::eval::run_grid(suite, registry, grid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!rows) {
    fmt::print(stderr, "demo: {}\n", rows.error().message);
    return 1;
  }
  fmt::print("{}\n", reckon::eval::to_table(*rows));

  const std::string svg = out_dir + "/frontier.svg", csv = out_dir + "/frontier.csv";
  std::ofstream(svg) << reckon::eval::to_svg(
      *rows, reckon::eval::plot_params{"Accuracy vs compute on the synthetic 'mixed' suite",
                                       fmt::format("{} problems, seed {}, budgets = n samples 1..32",
                                                   rows->front().problems, grid.seed),
                                       900, 500});
  std::ofstream(csv) << reckon::eval::to_csv(*rows);
  fmt::print("wrote {} and {} ({:.2f} s)\n", svg, csv, seconds);
  return 0;
}
