// SPDX-License-Identifier: Apache-2.0
// Tests of ETS: the program it builds, the re-allocation over kept nodes, REBASE as its limit,
// hostile engines and embedders, budgets, the KV it saves, and its reckon-eval name.
#include <reckon/eval/harness.hpp>
#include <reckon/eval/register_search.hpp>
#include <reckon/strategy/ets.hpp>
#include <reckon/strategy/rebase.hpp>

#include "hostile_stepping.hpp"
#include "scripted_search.hpp"
#include "strategy_fixtures.hpp"
#include <support/catch.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace reckon;

namespace {

using reckon::test::scripted_search;

/// Embeds a scripted step "<label step>" as the one-hot vector of its label (8 dimensions), broken
/// in a chosen way.
struct ets_label_embedder {
  using reckon_model_concept = embedding_model_tag;
  int mode = 0; // 0 fine, 1 an error, 2 one vector short, 3 a NaN, 4 throws
  std::size_t calls = 0;
  result<embedding_batch> embed(std::span<const std::string> texts) {
    ++calls;
    if (mode == 1) return fail(errc::engine_failure, "the encoder is down");
    if (mode == 4) throw std::runtime_error("encoder exploded");
    embedding_batch out;
    out.dimension = 8;
    for (const auto& t : texts) {
      std::size_t label = 0;
      std::sscanf(t.c_str(), "<%zu", &label);
      for (std::size_t d = 0; d < 8; ++d) out.values.push_back(d == label % 8 ? 1.0F : 0.0F);
    }
    if (mode == 2) out.values.resize(out.values.size() - 8);
    if (mode == 3) out.values[0] = std::numeric_limits<float>::quiet_NaN();
    out.usage.prefilled_tokens = 3 * texts.size();
    return out;
  }
};
static_assert(embedding_model<ets_label_embedder>);

/// A solver that records the programs it is given and keeps a scripted set (or what the exact
/// solver keeps when the script is empty).
struct ets_spy_solver {
  std::vector<ets_program>* seen = nullptr;
  std::vector<char> keep{};
  int mode = 0; // 0 as scripted, 1 wrong size, 2 keeps none, 3 an error
  result<ets_selection> operator()(const ets_program& p) const {
    if (seen != nullptr) seen->push_back(p);
    if (mode == 3) return fail(errc::engine_failure, "solver broke");
    if (keep.empty() && mode == 0) return exact_ets_solver{}(p);
    ets_selection s;
    s.keep = mode == 1 ? std::vector<char>(p.outcome.size() + 1, 1) : mode == 2 ? std::vector<char>(p.outcome.size(), 0) : keep;
    s.objective = 0.0;
    s.proven_optimal = true;
    return s;
  }
};
using spy_ets = basic_ets<select_weighted, canonical_answer_key, ets_spy_solver>;

bool ets_mentions(const strategy_result& r, const std::string& what) {
  for (const auto& e : r.trace)
    if (e.what.find(what) != std::string::npos) return true;
  return false;
}

} // namespace

TEST_CASE("ets: the program holds REBASE's shares, every ancestor and the newest steps' clusters", "[strategy][ets]") {
  // Width 4, two-step paths, labels 0 1 1 2 (labels 1 share answers and scores). Depth 1 scores
  // 0.6 / 0.5 / 0.5 / 0.4 at T_b 0.2: REBASE gives 2 1 1 0, so O = 0.5 0.25 0.25 0. Every node
  // is a child of the prompt: one branch node (the prompt), M = 1. Clusters by label: 3 (labels
  // 0, 1, 2), numbered by first appearance. The spy keeps nodes 0 and 3: the whole width is
  // re-allocated over them by the softmax (0.6 vs 0.4 at T_b 0.2: ceil(4 / (1 + e^-1)) = 3, then 1).
  const problem p{1, "scripted"};
  std::vector<ets_program> seen;
  scripted_search s{{{"7", {0.6, 0.9}}, {"8", {0.5, 0.9}}, {"9", {0.4, 0.9}}}, {0, 1, 1, 2}};
  ets_label_embedder e;
  ets_params params;
  params.search.width = 4;
  const spy_ets strategy(params, {}, ets_spy_solver{&seen, {1, 0, 0, 1}});
  auto r = strategy.run(s, s, e, p, budget{}, random_stream{});
  REQUIRE(r);
  REQUIRE(seen.size() == 1); // depth 2 finishes every path: the width is spent, no selection
  const ets_program& prog = seen[0];
  CHECK(prog.outcome == std::vector<double>{0.5, 0.25, 0.25, 0.0});
  CHECK(prog.branch_count == 1);
  for (const auto& b : prog.branches) CHECK(b == std::vector<std::uint32_t>{0});
  CHECK(prog.cluster == std::vector<std::uint32_t>{0, 1, 1, 2});
  CHECK(prog.cluster_count == 3);
  CHECK(prog.cost_weight == 1.0);
  CHECK(prog.coverage_weight == 1.5);
  CHECK(s.forks_of(0) == 3 + 2); // 3 root forks, then 3 children (2 forks and itself)
  for (std::uint32_t h = 1; h < 4; ++h) CHECK(s.forks_of(h) == 0); // handle 3 keeps its own sequence for its child
  CHECK(r->tally.find("7")->count == 3);
  CHECK(r->tally.find("9")->count == 1);
  CHECK(r->tally.find("8") == nullptr); // pruned although REBASE gives it a child
  CHECK(r->answer == "7");
  CHECK(r->samples == 4);
  CHECK(r->cost.embedding_calls == 1);
  CHECK(r->cost.embedding_tokens == 12);
  CHECK(ets_mentions(*r, "ets: kept 2 of 4 (1 branch nodes, 3 clusters"));
  CHECK(ets_mentions(*r, "ets: 2 frontier nodes pruned over 1 depths"));
  CHECK(s.clean());
}

TEST_CASE("ets: ancestors are the branch nodes, shared by the frontier nodes below them", "[strategy][ets]") {
  // Width 4, three-step paths; depth 1 scores 0.9 / 0.9 / 0.1 / 0.1 give 2 2 0 0: handles 0 and 1
  // each get two children. At depth 2 the frontier is {0, 0', 1, 1'} (children grouped by parent):
  // branches are the prompt and the two depth-1 nodes, M = 3; each frontier node activates the
  // prompt and its parent.
  const problem p{1, "scripted"};
  std::vector<ets_program> seen;
  scripted_search s{{{"1", {0.9, 0.5, 0.5}}, {"2", {0.1, 0.5, 0.5}}}, {0, 0, 1, 1}};
  ets_label_embedder e;
  ets_params params;
  params.search.width = 4;
  params.coverage_weight = 0.0; // no clustering: the embedder is not called
  auto r = spy_ets(params, {}, ets_spy_solver{&seen, {}}).run(s, s, e, p, budget{}, random_stream{});
  REQUIRE(r);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].branch_count == 1);
  const ets_program& d2 = seen[1];
  REQUIRE(d2.outcome.size() == 4);
  CHECK(d2.branch_count == 3);
  CHECK(d2.cluster.empty());
  // Children are grouped by ancestor: the first two share one parent, the last two the other.
  CHECK(d2.branches[0] == d2.branches[1]);
  CHECK(d2.branches[2] == d2.branches[3]);
  CHECK(d2.branches[0] != d2.branches[2]);
  for (const auto& b : d2.branches) {
    REQUIRE(b.size() == 2);
    CHECK(b.back() == d2.branches[0].back()); // the prompt, the last ancestor, is shared by all
  }
  CHECK(e.calls == 0);
  CHECK(r->cost.embedding_calls == 0);
  CHECK(s.clean());
}

TEST_CASE("ets without KV cost or coverage is REBASE, draw for draw", "[strategy][ets]") {
  // lambda_c = 0 (the code's +1e-4 bonus per kept node) and lambda_s = 0: keeping every node is the
  // unique optimum, so the re-allocation is REBASE's and the runs are identical.
  const auto suite = test::lenient_suite("mixed", 12);
  testing::synthetic_model model(suite, testing::lenient_params());
  ets_params params;
  params.search.width = 8;
  params.cost_weight = 0.0;
  params.coverage_weight = 0.0;
  for (const auto& q : suite->problems) {
    const problem p = q.as_problem();
    const random_stream s(stream_key{.seed = 5, .problem = p.id});
    auto a = ets(params).run(model, model, model, p, budget{}, s);
    auto b = rebase(params.search).run(model, model, p, budget{}, s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->answer == b->answer);
    CHECK(a->cost.generated_tokens == b->cost.generated_tokens);
    CHECK(a->cost.peak_shared_kv_tokens == b->cost.peak_shared_kv_tokens);
    CHECK(a->samples == b->samples);
  }
  CHECK(model.live_sequences() == 0);
}

TEST_CASE("ets prunes towards fewer subtrees: less shared KV than REBASE at one width", "[strategy][ets]") {
  // The mechanism behind the paper's claim, on one scripted tree: two equally scored families of
  // paths. REBASE spreads the width over both subtrees; with the KV cost ETS keeps the subtree it
  // pays for once (coverage off: the labels are one meaning here).
  const problem p{1, "scripted"};
  auto make = [] { return scripted_search{{{"4", {0.55, 0.5, 0.5, 0.5}}, {"4", {0.5, 0.5, 0.5, 0.5}}}, {0, 1, 0, 1, 0, 1, 0, 1}}; };
  scripted_search a = make(), b = make();
  ets_label_embedder e;
  ets_params params;
  params.search.width = 8;
  params.coverage_weight = 0.0;
  auto r_ets = ets(params).run(a, a, e, p, budget{}, random_stream{});
  auto r_rb = rebase(params.search).run(b, b, p, budget{}, random_stream{});
  REQUIRE(r_ets);
  REQUIRE(r_rb);
  CHECK(r_ets->answer == "4");
  CHECK(r_rb->answer == "4");
  INFO("ets mean KV " << r_ets->cost.mean_shared_kv_tokens() << ", rebase " << r_rb->cost.mean_shared_kv_tokens());
  CHECK(r_ets->cost.mean_shared_kv_tokens() < r_rb->cost.mean_shared_kv_tokens());
  CHECK(r_ets->cost.peak_shared_kv_tokens <= r_rb->cost.peak_shared_kv_tokens);
  CHECK(a.clean());
  CHECK(b.clean());
}

TEST_CASE("ets rejects bad parameters clearly", "[strategy][ets][errors]") {
  scripted_search s{{{"1", {0.5}}}, {0}};
  ets_label_embedder e;
  const problem p{1, "scripted"};
  auto bad = [&](ets_params params, const std::string& what) {
    auto r = ets(params).run(s, s, e, p, budget{}, random_stream{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Matchers::Contains(what));
  };
  ets_params p0;
  p0.search.width = 0;
  bad(p0, "ets: search: width must be > 0");
  ets_params p1;
  p1.cost_weight = -1.0;
  bad(p1, "cost_weight");
  ets_params p2;
  p2.coverage_weight = std::numeric_limits<double>::infinity();
  bad(p2, "coverage_weight");
  ets_params p3;
  p3.cluster_distance = 2.5;
  bad(p3, "cluster_distance");
  ets_params p4;
  p4.cluster_distance = std::nan("");
  bad(p4, "cluster_distance");
  CHECK(s.seqs.empty()); // nothing began
}

TEST_CASE("ets: a failing embedder or solver is an error and leaks nothing", "[strategy][ets][errors]") {
  const problem p{1, "scripted"};
  ets_params params;
  params.search.width = 4;
  auto script = [] { return scripted_search{{{"7", {0.6, 0.9}}, {"8", {0.5, 0.9}}}, {0, 1}}; };
  for (int mode : {1, 2, 3, 4}) {
    INFO("embedder mode " << mode);
    scripted_search s = script();
    ets_label_embedder e{mode};
    auto r = ets(params).run(s, s, e, p, budget{}, random_stream{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(s.clean());
  }
  for (int mode : {1, 2, 3}) {
    INFO("solver mode " << mode);
    scripted_search s = script();
    ets_label_embedder e;
    auto r = spy_ets(params, {}, ets_spy_solver{nullptr, {}, mode}).run(s, s, e, p, budget{}, random_stream{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::engine_failure);
    CHECK(s.clean());
  }
}

TEST_CASE("ets on a hostile engine: errors are results and every handle is released once", "[strategy][ets][errors]") {
  const auto suite = test::lenient_suite("mixed", 10);
  const auto& q = suite->problems[4];
  const problem p = q.as_problem();
  const random_stream s(stream_key{.seed = 7, .problem = p.id});
  const auto cases = test::tree_search_hostile_cases();
  ets_params params;
  params.search.width = 8;
  params.search.max_depth = q.steps + 2;
  for (const auto& c : cases) {
    INFO(c.name);
    testing::synthetic_model inner(suite, testing::lenient_params());
    test::hostile_stepping model(inner, c.modes);
    auto r = ets(params).run(model, inner, inner, p, budget{}, s);
    if (c.error) {
      REQUIRE_FALSE(r);
      CHECK(r.error().code == *c.error);
    } else {
      REQUIRE(r);
    }
    CHECK(model.clean());
    CHECK(model.double_releases() == 0);
    CHECK(inner.live_sequences() == 0);
  }
}

TEST_CASE("ets: every budget limit binds and is never passed", "[strategy][ets][budget]") {
  const auto suite = test::lenient_suite("hard", 20);
  const problem p = suite->problems[3].as_problem();
  const random_stream s(stream_key{.seed = 3, .problem = p.id});
  testing::synthetic_model model(suite, testing::lenient_params());
  ets_params params;
  params.search.width = 8;
  const ets strategy(params);
  auto free = strategy.run(model, model, model, p, budget{}, s);
  REQUIRE(free);
  const ledger& all = free->cost;
  REQUIRE(all.engine_calls >= 3);
  struct limit_case {
    const char* name;
    budget b;
  };
  const std::vector<limit_case> cases{
      {"generated", budget{.max_generated_tokens = all.generated_tokens / 2}},
      {"total", budget{.max_total_tokens = all.total_tokens() / 2}},
      {"engine calls", budget{.max_engine_calls = all.engine_calls / 2}},
      {"prm calls", budget{.max_prm_calls = all.prm_calls / 2}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = strategy.run(model, model, model, p, c.b, s);
    REQUIRE(r);
    CHECK(r->stopped_by.has_value());
    CHECK(r->cost.generated_tokens <= c.b.max_generated_tokens);
    CHECK(r->cost.total_tokens() <= c.b.max_total_tokens);
    CHECK(r->cost.engine_calls <= c.b.max_engine_calls);
    CHECK(r->cost.prm_calls <= c.b.max_prm_calls);
  }
  auto none = strategy.run(model, model, model, p, budget{.max_engine_calls = 0}, s);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == errc::budget_exhausted);
  CHECK(model.live_sequences() == 0);
}

TEST_CASE("ets runs through reckon-eval under its stable name, with its KV in the row", "[strategy][ets][eval]") {
  eval::strategy_registry registry;
  eval::register_builtin_strategies(registry);
  eval::register_search_strategies(registry);
  const auto* e = registry.find("ets");
  REQUIRE(e != nullptr);
  CHECK(static_cast<bool>(e->synthetic));
  CHECK_FALSE(static_cast<bool>(e->replay));
  const auto suite = testing::make_suite("mixed", testing::default_suite_seed, 12).value();
  eval::grid_params g;
  g.strategies = {"ets", "rebase"};
  g.budgets = {4};
  g.seed = 3;
  g.threads = 2;
  auto rows = eval::run_grid(suite, registry, g);
  REQUIRE(rows);
  REQUIRE(rows->size() == 2);
  for (const auto& row : *rows) {
    INFO(row.strategy << " @" << row.budget << ": " << row.first_error);
    CHECK(row.errors == 0);
    CHECK(row.answered == row.problems);
    CHECK(row.prm_calls_mean >= 1.0);
    CHECK(row.kv_peak_mean > 0.0);
    CHECK(row.kv_mean > 0.0);
    CHECK(row.kv_mean <= row.kv_peak_mean);
  }
  g.threads = 1;
  auto serial = eval::run_grid(suite, registry, g);
  REQUIRE(serial);
  CHECK(*serial == *rows);
}

TEST_CASE("ets against REBASE on mixed: less KV at about the same accuracy (the paper's claim, in part)",
          "[strategy][ets][statistics]") {
  // The paper: about 1.8x less KV cache than REBASE at the same accuracy. Here (standard
  // instrument, 300 problems, width 16, seed 2026; measured 2026-12-01): ETS 0.743 with 1245 KV
  // tokens held in a mean round, REBASE 0.747 with 1422, a 1.14x saving (peak 1.18x). Stated:
  // a saving of at least 1.08x in the mean and the peak, accuracy within 0.04 of REBASE's; the
  // paper's 1.8x does not hold on this instrument (README).
  eval::strategy_registry registry;
  eval::register_builtin_strategies(registry);
  eval::register_search_strategies(registry);
  const auto suite = testing::make_suite("mixed", testing::default_suite_seed, 300).value();
  eval::grid_params g;
  g.strategies = {"ets", "rebase"};
  g.budgets = {16};
  g.seed = 2026;
  g.threads = 2;
  auto rows = eval::run_grid(suite, registry, g);
  REQUIRE(rows);
  REQUIRE(rows->size() == 2);
  const auto& e = (*rows)[0].strategy == "ets" ? (*rows)[0] : (*rows)[1];
  const auto& r = (*rows)[0].strategy == "ets" ? (*rows)[1] : (*rows)[0];
  INFO("ets " << e.accuracy << " kv " << e.kv_mean << " peak " << e.kv_peak_mean << "; rebase " << r.accuracy << " kv "
              << r.kv_mean << " peak " << r.kv_peak_mean);
  CHECK(r.kv_mean >= 1.08 * e.kv_mean);
  CHECK(r.kv_peak_mean >= 1.08 * e.kv_peak_mean);
  CHECK(e.accuracy >= r.accuracy - 0.04);
  CHECK(e.tokens_mean <= 1.03 * r.tokens_mean);
}
