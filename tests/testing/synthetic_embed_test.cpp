// SPDX-License-Identifier: Apache-2.0
// Tests of the synthetic model as an embedder (ETS, #16.2a): rows from their own text, the stated
// same-meaning rate within the cut, far meanings, usage, and clusters of a real frontier.
#include <reckon/aggregate/cluster.hpp>
#include <reckon/testing/synthetic_model.hpp>

#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

using namespace reckon;
using namespace reckon::testing;

namespace {

std::shared_ptr<const suite> embed_suite(std::string_view name, std::size_t n) {
  return std::make_shared<const suite>(make_suite(name, default_suite_seed, n).value());
}

double embed_distance(std::span<const float> a, std::span<const float> b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return 1.0 - dot / std::sqrt(na * nb);
}

// F of chi^2 with k degrees of freedom at x: the regularised lower incomplete gamma P(k/2, x/2),
// by its power series.
double embed_chi2_cdf(double k, double x) {
  const double a = k / 2.0, h = x / 2.0;
  double term = 1.0, sum = 1.0;
  for (int n = 1; n < 2000 && term > 1e-17 * sum; ++n) {
    term *= h / (a + n);
    sum += term;
  }
  return std::exp(-h + a * std::log(h) - std::lgamma(a + 1.0)) * sum;
}

// A step text with a tag saying (k, state) and the given words, as the model writes them.
std::string embed_step_text(std::uint32_t k, bool wrong, std::uint32_t distractor, std::uint64_t hash,
                            std::string_view words, bool trap = false) {
  return detail::synth::format_tag({k, 20 + k, hash, wrong, trap, distractor}) + std::string(words);
}

// The meaning the file comment defines, read off a step text: (k, state, words besides the tag).
std::tuple<std::uint32_t, int, std::string> embed_meaning(const std::string& text) {
  std::vector<detail::synth::step_tag> tags;
  detail::synth::collect_tags(text, tags);
  REQUIRE(tags.size() == 1);
  const auto& t = tags.back();
  return {t.k, t.wrong ? static_cast<int>(t.distractor) : -1, text.substr(text.find('>') + 1)};
}

// First steps of fresh sequences of q that are correct and reason on: texts of one meaning.
std::vector<std::string> embed_first_steps(synthetic_model& m, const synthetic_problem& q, std::size_t want) {
  std::vector<std::string> out;
  for (std::uint64_t seed = 1; out.size() < want; ++seed) {
    const auto s = m.begin(q.as_problem()).value();
    const auto b = m.extend(std::span(&s, 1), step_params{}, std::span(&seed, 1)).value();
    if (!m.is_wrong(s) && b.steps[0].finish == finish_reason::step) out.push_back(b.steps[0].text);
    m.release(s);
  }
  return out;
}

const synthetic_problem& embed_problem(const suite& s, std::uint32_t min_steps) {
  for (const auto& q : s.problems)
    if (q.steps >= min_steps) return q;
  FAIL("no problem with enough steps");
  return s.problems.front();
}

} // namespace

TEST_CASE("the synthetic model is an embedding model", "[testing][synthetic][embed]") {
  STATIC_REQUIRE(embedding_model<synthetic_model>);
  STATIC_REQUIRE(declares_capability<synthetic_model, embedding_model_tag>);
}

TEST_CASE("an embedding row depends on its own text only", "[testing][synthetic][embed]") {
  auto s = embed_suite("mixed", 20);
  synthetic_model m(s);
  const auto& q = embed_problem(*s, 3);
  std::vector<std::string> texts = embed_first_steps(m, q, 6);
  const auto whole = m.sample(q.as_problem(), sampling_params{.seed = 5}, 2).value();
  for (const auto& c : whole.completions) texts.push_back(c.text); // many tags: the last one speaks
  texts.push_back("Plain words, no tag.");
  texts.push_back("");
  texts.push_back(texts[0]); // a repeat
  const auto all = m.embed(texts).value();
  REQUIRE(all.dimension == 64);
  REQUIRE(all.size() == texts.size());
  std::vector<std::string> reversed(texts.rbegin(), texts.rend());
  const auto back = m.embed(reversed).value();
  synthetic_model fresh(s); // no history
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto alone = fresh.embed(std::span(&texts[i], 1)).value();
    CHECK(std::ranges::equal(alone.row(0), all.row(i)));
    CHECK(std::ranges::equal(back.row(texts.size() - 1 - i), all.row(i)));
  }
  CHECK(std::ranges::equal(all.row(texts.size() - 1), all.row(0)));
  // Another seed moves every row; another dimension changes the length.
  synthetic_params other;
  other.embedding.seed = 99;
  other.embedding.dimension = 16;
  const auto moved = synthetic_model(s, other).embed(texts).value();
  CHECK(moved.dimension == 16);
  CHECK(moved.size() == texts.size());
}

TEST_CASE("an embedding call reads each text once, in one call", "[testing][synthetic][embed]") {
  auto s = embed_suite("mixed", 5);
  synthetic_model m(s);
  const std::vector<std::string> texts{embed_step_text(1, false, 0, 7, " Reasoning.\n\n"),
                                       embed_step_text(2, false, 0, 8, " Reasoning.\n\n") +
                                           embed_step_text(3, true, 1, 9, " The answer is \\boxed{4}."),
                                       "nine char"};
  const auto b = m.embed(texts).value();
  // Tags say 21, 22 + 23 tokens; the untagged 9 characters are ceil(9 / 4) = 3.
  CHECK(b.usage.prefilled_tokens == 21 + 22 + 23 + 3);
  CHECK(b.usage.generated_tokens == 0);
  CHECK(b.usage.engine_calls == 1);
  const auto none = m.embed(std::span<const std::string>{}).value();
  CHECK(none.size() == 0);
  CHECK(none.usage.prefilled_tokens == 0);
  synthetic_params bad;
  bad.embedding.dimension = 0;
  CHECK_THROWS_WITH(synthetic_model(s, bad), Catch::Contains("embedding_params.dimension"));
  bad.embedding.dimension = 65537;
  CHECK_THROWS_WITH(synthetic_model(s, bad), Catch::Contains("embedding_params.dimension"));
  bad = synthetic_params{};
  bad.embedding.noise = -0.1;
  CHECK_THROWS_WITH(synthetic_model(s, bad), Catch::Contains("embedding_params.noise"));
}

TEST_CASE("two steps of one meaning are within ETS's cut at the stated rate", "[testing][synthetic][embed]") {
  // The file comment's law: distance ~ noise^2 chi^2(D - 1) / (D (1 + noise^2)), so
  // P(distance <= 0.05) = F_chi2(D-1)(0.05 D (1 + noise^2) / noise^2): 95.5% at the defaults
  // (D = 64, noise 0.2). Second, a geometry where the law predicts a middling rate (D = 16, noise
  // 0.25: 45%). 1000 disjoint pairs of real first steps each; tolerance: 4 binomial SDs plus 0.01
  // for the law's neglected terms.
  auto s = embed_suite("mixed", 20);
  const auto& q = embed_problem(*s, 3);
  for (const auto& [dim, noise] : {std::pair{64U, 0.2}, std::pair{16U, 0.25}}) {
    synthetic_params p;
    p.embedding.dimension = dim;
    p.embedding.noise = noise;
    synthetic_model m(s, p);
    const auto texts = embed_first_steps(m, q, 2000);
    const auto b = m.embed(texts).value();
    std::size_t within = 0;
    double mean = 0.0;
    for (std::size_t i = 0; i < texts.size(); i += 2) {
      const double d = embed_distance(b.row(i), b.row(i + 1));
      within += d <= 0.05 ? 1 : 0;
      mean += d / 1000.0;
    }
    const double predicted = embed_chi2_cdf(dim - 1.0, 0.05 * dim * (1.0 + noise * noise) / (noise * noise));
    const double rate = static_cast<double>(within) / 1000.0;
    INFO("D = " << dim << ", noise " << noise << ": " << rate << " within the cut (law " << predicted
                << "), mean distance " << mean);
    if (dim == 64) CHECK(predicted == Approx(0.955).margin(0.0005));
    CHECK(std::abs(rate - predicted) <= 4.0 * std::sqrt(predicted * (1 - predicted) / 1000.0) + 0.01);
    CHECK(mean == Approx(noise * noise * (dim - 1.0) / (dim * (1.0 + noise * noise))).epsilon(0.03));
  }
}

TEST_CASE("steps of different meanings are far apart", "[testing][synthetic][embed]") {
  // 36 meanings (step 1-3 x correct or heading to distractor 0-2 x reasoning, answering or cut
  // off), two texts each (different prefixes). Different meanings: cosine ~ N(0, 1/64), so a
  // distance below 0.5 is a 4-SD event (p ~ 3e-5 a pair, ~2500 pairs).
  auto s = embed_suite("mixed", 5);
  synthetic_model m(s);
  std::vector<std::string> texts;
  std::vector<int> meaning;
  int id = 0;
  for (std::uint32_t k = 1; k <= 3; ++k)
    for (int state = -1; state <= 2; ++state)
      for (const char* words : {" Reasoning.\n\n", " The answer is \\boxed{12}.", " ..."}) {
        for (std::uint64_t h : {1000U + id, 5000U + id}) {
          texts.push_back(embed_step_text(k, state >= 0, state < 0 ? 0 : state, h, words));
          meaning.push_back(id);
        }
        ++id;
      }
  // A trap's error heads to distractor 0, as any error to distractor 0 does: one meaning.
  texts.push_back(embed_step_text(2, true, 0, 777, " Reasoning.\n\n", true));
  meaning.push_back(1 * 12 + 1 * 3 + 0);
  const auto b = m.embed(texts).value();
  double far_min = 2.0, near_max = 0.0, far_mean = 0.0;
  std::size_t far_pairs = 0;
  for (std::size_t i = 0; i < texts.size(); ++i)
    for (std::size_t j = i + 1; j < texts.size(); ++j) {
      const double d = embed_distance(b.row(i), b.row(j));
      if (meaning[i] == meaning[j]) {
        near_max = std::max(near_max, d);
      } else {
        far_min = std::min(far_min, d);
        far_mean += d;
        ++far_pairs;
      }
    }
  far_mean /= static_cast<double>(far_pairs);
  INFO("far min " << far_min << " mean " << far_mean << " near max " << near_max);
  CHECK(far_min > 0.5);
  CHECK(far_mean == Approx(1.0).margin(0.02));
  CHECK(near_max < 0.2); // chi^2(63) would need 320 for 0.2
}

TEST_CASE("average-linkage clusters of a real frontier follow the steps' meanings", "[testing][synthetic][embed]") {
  // 64 paths from each of 8 hard problems' prompts, taken three steps: a frontier of step-3 texts
  // that are correct, heading to one of the distractors, or already answering. Clustered at ETS's
  // cut, each cluster should hold one meaning (purity) and each meaning sit in one cluster.
  auto s = embed_suite("hard", 40);
  synthetic_model m(s);
  std::size_t rows = 0, pure = 0, together = 0, frontiers_with_many = 0, problems = 0;
  for (const auto& q : s->problems) {
    if (q.steps < 5 || problems == 8) continue;
    ++problems;
    std::vector<std::uint32_t> seqs;
    std::vector<std::uint64_t> seeds;
    for (std::uint32_t i = 0; i < 64; ++i) {
      seqs.push_back(m.begin(q.as_problem()).value());
      seeds.push_back(q.id * 1000 + i);
    }
    std::vector<std::string> texts;
    std::vector<std::uint32_t> going = seqs; // a path that has answered takes no more steps
    for (int step = 0; step < 3; ++step) {
      for (auto& seed : seeds) seed = detail::synth::mix64(seed);
      const auto b = m.extend(going, step_params{}, std::span(seeds).first(going.size())).value();
      std::vector<std::uint32_t> next;
      for (std::size_t i = 0; i < going.size(); ++i) {
        if (step == 2) texts.push_back(b.steps[i].text);
        if (!b.steps[i].done) next.push_back(going[i]);
      }
      going = std::move(next);
    }
    for (const auto id : seqs) m.release(id);
    const auto e = m.embed(texts).value();
    const auto labels = average_linkage_clusters(e, 0.05).value();
    std::map<std::tuple<std::uint32_t, int, std::string>, std::map<std::uint32_t, std::size_t>> by_meaning;
    std::map<std::uint32_t, std::map<std::tuple<std::uint32_t, int, std::string>, std::size_t>> by_cluster;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const auto sense = embed_meaning(texts[i]);
      ++by_meaning[sense][labels[i]];
      ++by_cluster[labels[i]][sense];
    }
    for (const auto& [label, counts] : by_cluster) {
      std::size_t most = 0;
      for (const auto& [sense, c] : counts) most = std::max(most, c);
      pure += most;
    }
    for (const auto& [sense, counts] : by_meaning) {
      std::size_t most = 0;
      for (const auto& [label, c] : counts) most = std::max(most, c);
      together += most;
    }
    rows += texts.size();
    frontiers_with_many += by_meaning.size() >= 3 ? 1 : 0;
  }
  REQUIRE(problems == 8);
  CHECK(frontiers_with_many >= 4); // the frontiers do hold several meanings
  const double purity = static_cast<double>(pure) / rows, completeness = static_cast<double>(together) / rows;
  INFO("purity " << purity << ", completeness " << completeness << " over " << rows << " rows");
  CHECK(purity > 0.9);
  CHECK(completeness > 0.9);
}
