// SPDX-License-Identifier: Apache-2.0
// ZIP-RC: prune, branch and stop by a head's predicted reward and length; a realistic vs an exact head.
#include <reckon/reckon.hpp>
#include <reckon/testing/synthetic_model.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <string_view>

int main() {
  const auto suite = reckon::testing::make_suite("hard").value();
  // The synthetic model is introspective: after every step it reports, per sample, the joint of
  // (final correctness, remaining tokens). By default that head sees a prefix only as well as the
  // PRM does; `head.oracle = true` makes it know exactly whether an error has happened.
  reckon::testing::synthetic_model realistic(suite);
  reckon::testing::synthetic_model oracle(suite, {.head = {.oracle = true}});
  const reckon::budget limit{.max_generated_tokens = 20'000};

  // At most 8 samples, 2 to start: after every step ZIP-RC prunes samples that lower the expected
  // utility (best predicted value minus alpha x expected remaining tokens), branches new ones while
  // that raises it, and stops when nothing is left worth continuing.
  const reckon::zip_rc strategy(reckon::zip_rc_params{.n = 8, .initial = 2, .alpha = 0.05});

  struct totals {
    int right = 0, pruned = 0, branched = 0;
    reckon::ledger cost;
  };
  auto count = [](const reckon::strategy_result& r, std::string_view what) {
    int k = 0;
    for (const auto& e : r.trace) k += std::string_view(e.what).starts_with(what) ? 1 : 0;
    return k;
  };
  totals def, ora;
  for (std::size_t i = 0; i < 20; ++i) {
    const auto& q = suite.problems[i];
    const reckon::problem p = q.as_problem();
    const reckon::random_stream stream(reckon::stream_key{.seed = 1, .problem = p.id});
    auto a = strategy.run(realistic, p, limit, stream);
    if (!a) return fmt::print("zip-rc error: {}\n", a.error()), 1;
    auto b = strategy.run(oracle, p, limit, stream);
    if (!b) return fmt::print("zip-rc (oracle) error: {}\n", b.error()), 1;
    // Confidence is the chosen sample's predicted E[V]: the head's own belief that it is right.
    fmt::print("problem {:2}: gold {:>5} | default head {:>5} ({:.2f}) | oracle head {:>5} ({:.2f})\n", i, q.gold,
               a->answer.value_or("none"), a->confidence, b->answer.value_or("none"), b->confidence);
    for (auto [t, r] : {std::pair{&def, &a}, std::pair{&ora, &b}}) {
      t->right += (*r)->answer == q.gold ? 1 : 0;
      t->pruned += count(**r, "pruned");
      t->branched += count(**r, "branched");
      t->cost += (*r)->cost;
    }
  }
  // A better head prunes wrong samples sooner and branches only when it helps: the head's quality
  // is what ZIP-RC's savings depend on.
  fmt::print("\ndefault head: {}/20 right, {} pruned, {} branched\n  cost {}\n", def.right, def.pruned, def.branched, def.cost);
  fmt::print("oracle head:  {}/20 right, {} pruned, {} branched\n  cost {}\n", ora.right, ora.pruned, ora.branched, ora.cost);
}
