// SPDX-License-Identifier: Apache-2.0
// Tests of the synthetic instrument's harder process (issue 14): no leaks, variable paths, traps,
// agent-dependent confidence, reward quality falling with difficulty, and the lenient set.
#include <reckon/testing/synthetic_model.hpp>

#include <support/catch.hpp>
#include <testing/synthetic_checks.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string>
#include <vector>

using namespace reckon;
using namespace reckon::testing;

namespace {

std::shared_ptr<const suite> proc_suite(std::string_view name, std::size_t n, parameter_set set = parameter_set::standard) {
  return std::make_shared<const suite>(make_suite(name, default_suite_seed, n, set).value());
}

std::size_t proc_steps(const std::string& text) {
  std::vector<detail::synth::step_tag> tags;
  detail::synth::collect_tags(text, tags);
  return tags.size();
}

} // namespace

TEST_CASE("no leaks: a prompt names its problem and holds no digit; step texts hold none outside the answer",
          "[testing][synthetic][process]") {
  for (const auto set : {parameter_set::standard, parameter_set::lenient}) {
    for (const auto name : suite_names()) {
      const auto s = make_suite(name, default_suite_seed, 0, set).value();
      std::set<std::string> prompts;
      for (const auto& q : s.problems) {
        const std::string prompt = q.as_problem().prompt;
        // No digit at all: so no difficulty, gold, step count, trap or index can be read off it.
        CHECK(std::none_of(prompt.begin(), prompt.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }));
        prompts.insert(prompt);
      }
      CHECK(prompts.size() == s.problems.size()); // the prompt still names the problem
    }
  }
  synthetic_model m(proc_suite("mixed", 40));
  std::set<std::string> states_of_correct_prefixes;
  for (const auto& q : m.problems().problems) {
    const completion c = m.generate(q, 5);
    const std::size_t box = c.text.find("\\boxed{");
    const std::string before = c.text.substr(0, box);
    CHECK(std::none_of(before.begin(), before.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }));
    std::vector<detail::synth::step_tag> tags;
    detail::synth::collect_tags(c.text, tags);
    for (const auto& t : tags)
      if (!t.wrong) {
        const std::string tag = detail::synth::format_tag(t);
        states_of_correct_prefixes.insert(tag.substr(tag.rfind(':') + 1));
      }
  }
  // The state field is masked per prefix: "correct" is not one string a strategy could look for.
  CHECK(states_of_correct_prefixes.size() > 50);
}

TEST_CASE("variable paths: lengths vary per path, wrong paths ramble or stop early, copies diverge",
          "[testing][synthetic][process]") {
  synthetic_model m(proc_suite("mixed", 60));
  std::size_t shorter = 0, longer = 0, early_wrong = 0, wrong = 0;
  double correct_len = 0.0, wrong_len = 0.0, n_correct = 0.0;
  for (const auto& q : m.problems().problems) {
    const auto [lo, hi] = m.path_range(q, false);
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      const completion c = m.generate(q, seed);
      const std::size_t k = proc_steps(c.text);
      REQUIRE(k >= 1);
      if (test::boxes_gold(q, c.text)) {
        CHECK(k >= lo);
        CHECK(k <= hi);
        shorter += k < q.steps;
        longer += k > q.steps;
        correct_len += static_cast<double>(c.tokens);
        n_correct += 1.0;
      } else {
        ++wrong;
        early_wrong += k < lo;
        wrong_len += static_cast<double>(c.tokens);
      }
    }
  }
  // 2400 samples: correct paths both shorter and longer than K, wrong ones that stop before the
  // shortest correct path (wrong_stop 0.1 per step) and wrong ones longer on average.
  CHECK(shorter > 100);
  CHECK(longer > 100);
  REQUIRE(wrong > 200);
  CHECK(static_cast<double>(early_wrong) / static_cast<double>(wrong) > 0.05);
  CHECK(wrong_len / static_cast<double>(wrong) > 1.1 * correct_len / n_correct);

  // Two different prefixes extended with one seed: today's draws are keyed by the path, so they
  // take different steps; the same prefix with the same seed takes the same step (determinism).
  const auto& q = m.problems().problems[3];
  auto a = m.begin(q.as_problem()).value();
  auto b = m.begin(q.as_problem()).value();
  const std::uint64_t seeds_ab[2] = {11, 12};
  const synthetic_model::sequence both[2] = {a, b};
  REQUIRE(m.extend(both, step_params{}, seeds_ab));
  auto a2 = m.fork(a).value();
  std::size_t differ = 0;
  for (std::uint64_t seed = 100; seed < 140; ++seed) {
    auto x = m.fork(a).value(), y = m.fork(b).value(), z = m.fork(a).value();
    const synthetic_model::sequence three[3] = {x, y, z};
    const std::uint64_t same[3] = {seed, seed, seed};
    const auto st = m.extend(three, step_params{}, same).value();
    differ += st.steps[0].tokens != st.steps[1].tokens;
    CHECK(st.steps[0].text == st.steps[2].text);
    for (auto s : three) m.release(s);
  }
  CHECK(differ > 30); // of 40: lengths drawn per path (ties of the rounded length aside)
  for (auto s : {a, b, a2}) m.release(s);
  CHECK(m.live_sequences() == 0);
}

TEST_CASE("hard problems stay hard: pass@k saturates below 1 on hard, traps pull votes to one wrong answer",
          "[testing][synthetic][process]") {
  // pass@64 by the closed form over the whole suite, checked by sampling on 60 problems.
  auto pass_at = [](const synthetic_model& m, std::size_t k) {
    double total = 0.0;
    for (const auto& q : m.problems().problems) total += 1.0 - std::pow(1.0 - m.sample_accuracy(q), static_cast<double>(k));
    return total / static_cast<double>(m.problems().problems.size());
  };
  const synthetic_model hard(proc_suite("hard", 300)), mixed(proc_suite("mixed", 300));
  const synthetic_model lenient(proc_suite("hard", 300, parameter_set::lenient), lenient_params());
  // Half of the traps are never passed: about 15% of hard and 10% of mixed cannot be solved.
  CHECK(pass_at(hard, 64) < 0.92);
  CHECK(pass_at(mixed, 64) < 0.95);
  CHECK(pass_at(hard, 64) < pass_at(mixed, 64));
  CHECK(pass_at(lenient, 64) > 0.995);
  synthetic_model h(proc_suite("hard", 60));
  double solved = 0.0, expected = 0.0;
  std::size_t trap_wrong = 0, trap_wrong_top = 0;
  for (const auto& q : h.problems().problems) {
    const auto batch = h.sample(q.as_problem(), sampling_params{.max_tokens = 1u << 20, .seed = q.id}, 64).value();
    bool any = false;
    for (const auto& c : batch.completions) {
      const bool ok = test::boxes_gold(q, c.text);
      any = any || ok;
      if (!ok && q.trap_step != 0) {
        ++trap_wrong;
        trap_wrong_top += c.text.find("\\boxed{" + q.distractors[0] + "}") != std::string::npos;
      }
    }
    solved += any ? 1.0 : 0.0;
    expected += 1.0 - std::pow(1.0 - h.sample_accuracy(q), 64.0);
  }
  // 60 problems: pass@64's SD <= 0.065; tolerance 0.13 (2 SD).
  CHECK(solved / 60.0 == Approx(expected / 60.0).margin(0.13));
  CHECK(solved < 60.0);
  REQUIRE(trap_wrong > 200);
  // A trap's error leads to distractor 0: most wrong answers of a trap problem are that one.
  CHECK(static_cast<double>(trap_wrong_top) / static_cast<double>(trap_wrong) > 0.8);
}

TEST_CASE("reward quality falls with difficulty, and a misjudged trap looks correct to the PRM",
          "[testing][synthetic][process]") {
  synthetic_params p;
  p.prm.separation = p.orm.separation = 2.0;
  p.prm.difficulty_shift = p.orm.difficulty_shift = 0.0; // pooled AUC within a bin, no level shift
  p.prm.trap_misjudge = p.orm.trap_misjudge = 0.0;       // the decay alone first
  synthetic_model m(proc_suite("mixed", 300), p);
  std::vector<double> pos[2], neg[2];
  double expected[2] = {}, count[2] = {};
  for (const auto& q : m.problems().problems) {
    const int bin = q.difficulty < 0.4 ? 0 : q.difficulty > 0.6 ? 1 : -1;
    if (bin < 0) continue;
    expected[bin] += p.orm.auc(q.difficulty);
    count[bin] += 1.0;
    const auto batch = m.sample(q.as_problem(), sampling_params{.seed = q.id}, 12).value();
    std::vector<std::string> texts;
    std::vector<solution_view> views;
    for (const auto& c : batch.completions) texts.push_back(c.text);
    for (const auto& t : texts) views.push_back(solution_view{std::span<const std::string>(&t, 1), true, 0});
    const auto o = m.score_outcomes(q.as_problem(), views).value();
    for (std::size_t i = 0; i < views.size(); ++i) (test::boxes_gold(q, texts[i]) ? pos[bin] : neg[bin]).push_back(o[i]);
  }
  REQUIRE(neg[0].size() > 150);
  REQUIRE(pos[1].size() > 150);
  // >= 150 per class: the AUC's SE is ~0.025; tolerance 0.07 against the mean of Phi(s(d)/sqrt 2).
  CHECK(test::empirical_auc(pos[0], neg[0]) == Approx(expected[0] / count[0]).margin(0.07));
  CHECK(test::empirical_auc(pos[1], neg[1]) == Approx(expected[1] / count[1]).margin(0.07));
  CHECK(test::empirical_auc(pos[0], neg[0]) > test::empirical_auc(pos[1], neg[1]) + 0.05);
  CHECK(p.prm.auc(1.0) < p.prm.auc(0.0));

  // Misjudged traps: the PRM scores a trap's wrong prefix like a correct one on those problems.
  p.prm.trap_misjudge = 1.0;
  synthetic_model fooled(proc_suite("hard", 200), p);
  p.prm.trap_misjudge = 0.0;
  synthetic_model sharp(proc_suite("hard", 200), p);
  double fooled_wrong = 0.0, sharp_wrong = 0.0, n = 0.0;
  for (const auto& q : fooled.problems().problems) {
    if (q.trap_step == 0) continue;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      const completion c = fooled.generate(q, seed);
      std::vector<detail::synth::step_tag> tags;
      detail::synth::collect_tags(c.text, tags);
      if (tags.size() < q.trap_step || !tags[q.trap_step - 1].trap) continue;
      const std::string text = c.text;
      const solution_view v{std::span<const std::string>(&text, 1), true, 0};
      fooled_wrong += fooled.score_steps(q.as_problem(), std::span(&v, 1)).value()[0][0];
      sharp_wrong += sharp.score_steps(q.as_problem(), std::span(&v, 1)).value()[0][0];
      n += 1.0;
    }
  }
  REQUIRE(n > 100);
  // d' = 2 at difficulty >= 0.5 keeps s(d) >= 1: the mean score of a wrong prefix moves up by a lot.
  CHECK(fooled_wrong / n > sharp_wrong / n + 0.1);
}

TEST_CASE("agent-dependent confidence: the agent that errs more is less sure, by the stated effect",
          "[testing][synthetic][process]") {
  auto mean_entropy = [](synthetic_params p) {
    p.tokens.step_sd = 0.0;
    p.tokens.error_effect = 0.0; // the agent shift alone
    synthetic_model m(proc_suite("mixed", 20), p);
    double total = 0.0, n = 0.0;
    for (const auto& q : m.problems().problems)
      for (std::uint64_t seed = 0; seed < 10; ++seed) {
        const auto c = m.sample(q.as_problem(), sampling_params{.seed = seed, .stats = {.entropy = true}}, 1).value();
        for (const float h : c.completions[0].stats.entropy) total += h;
        n += static_cast<double>(c.completions[0].stats.entropy.size());
      }
    return total / n;
  };
  synthetic_params fast, slow, fast0, slow0;
  fast.agent = fast0.agent = fast_agent();
  slow.agent = slow0.agent = slow_agent();
  fast0.tokens.agent_effect = slow0.tokens.agent_effect = 0.0;
  const double hf = mean_entropy(fast), hs = mean_entropy(slow);
  // logit(q) means 0.5 * log2(1.6 / 0.5) = 0.84 SD apart: the fast agent's entropy is clearly higher;
  // with agent_effect 0 the two agents write with one confidence (within 3%).
  CHECK(hf > 1.15 * hs);
  CHECK(mean_entropy(fast0) == Approx(mean_entropy(slow0)).epsilon(0.03));
}

TEST_CASE("the lenient set is the process before issue 14: every path K steps, draws keyed by the problem",
          "[testing][synthetic][process]") {
  synthetic_model m(proc_suite("mixed", 30, parameter_set::lenient), lenient_params());
  for (const auto& q : m.problems().problems) {
    CHECK(q.trap_step == 0);
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      const completion c = m.generate(q, seed);
      CHECK(proc_steps(c.text) == q.steps);
    }
  }
  // Two different prefixes, one seed: the same draws (the old keying), so the same step length.
  const auto& q = m.problems().problems[2];
  auto a = m.begin(q.as_problem()).value();
  auto b = m.begin(q.as_problem()).value();
  const synthetic_model::sequence both[2] = {a, b};
  const std::uint64_t first[2] = {1, 2}, next[2] = {7, 7};
  REQUIRE(m.extend(both, step_params{}, first));
  const auto st = m.extend(both, step_params{}, next).value();
  CHECK(st.steps[0].tokens == st.steps[1].tokens);
  m.release(a);
  m.release(b);
  // The same problem draws as before issue 14 in the suite: only the trap stream is new.
  const auto standard = make_suite("mixed", default_suite_seed, 30).value();
  for (std::size_t i = 0; i < 30; ++i) {
    CHECK(standard.problems[i].gold == m.problems().problems[i].gold);
    CHECK(standard.problems[i].steps == m.problems().problems[i].steps);
  }
}
