// SPDX-License-Identifier: Apache-2.0
// reckon::cbc as a consumer uses it: ETS's program on two frontier nodes under one root, solved by CBC.
#include <reckon/adapters/cbc.hpp>

#include <vector>

bool reckon_consumer_cbc() {
  reckon::ets_program program;
  program.outcome = {0.7, 0.3};
  program.branches = {{0}, {0}};
  program.branch_count = 1;
  const auto solved = reckon::cbc_ets_solver{}(program);
  // 0.7 - 2/3 for node 0 alone (its cost and the root's, C = 1/3) beats keeping both (1 - 1).
  return solved && solved->proven_optimal && solved->keep == std::vector<char>{1, 0};
}
