// SPDX-License-Identifier: Apache-2.0
// Particle Gibbs vs the particle filter on hard problems, with about the same number of particles in all.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

int main() {
  // The synthetic model steps, forks and is its own PRM.
  const auto suite = reckon::testing::make_suite("hard").value();
  reckon::testing::synthetic_model model(suite);

  // 2 sweeps of 4 particles: the second sweep runs 3 free particles next to 1 reference particle
  // drawn from the first sweep's final weights; offspring of the reference are its prefix, cut
  // back to the current step by forking a snapshot the engine kept (no re-prefill).
  const reckon::particle_gibbs gibbs(reckon::particle_gibbs_params{.n = 4, .iterations = 2, .references = 1});
  // The baseline spends its particles in one sweep.
  const reckon::particle_filter filter(reckon::particle_filter_params{.n = 8});

  int gibbs_right = 0, filter_right = 0;
  reckon::ledger gibbs_cost, filter_cost;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto pg = gibbs.run(model, model, p, reckon::budget{}, stream); // the policy model and the PRM
    if (!pg) return fmt::print("particle gibbs error: {}\n", pg.error()), 1;
    auto pf = filter.run(model, model, p, reckon::budget{}, stream);
    if (!pf) return fmt::print("particle filter error: {}\n", pf.error()), 1;
    fmt::print("problem {:2}: gold {:>6} | particle gibbs {:>6} ({:.2f}) | particle filter {:>6} ({:.2f})\n", i, q.gold,
               pg->answer.value_or("none"), pg->confidence, pf->answer.value_or("none"), pf->confidence);
    gibbs_right += pg->answer == q.gold ? 1 : 0;
    filter_right += pf->answer == q.gold ? 1 : 0;
    gibbs_cost += pg->cost;
    filter_cost += pf->cost;
  }
  // The snapshots show in the peak of live sequences; the reference is not regenerated, so the
  // sweeps generate fewer tokens than 8 particles would.
  fmt::print("\nparticle gibbs:  {}/20 right\n  cost {}\n", gibbs_right, gibbs_cost);
  fmt::print("particle filter: {}/20 right\n  cost {}\n", filter_right, filter_cost);
}
