// SPDX-License-Identifier: Apache-2.0
// Tests of the synthetic model: its stated rates, fork/release bookkeeping, determinism, errors.
#include <reckon/testing/synthetic_model.hpp>

#include <support/catch.hpp>
#include <testing/synthetic_checks.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace reckon;
using namespace reckon::testing;

namespace {

std::shared_ptr<const suite> mixed(std::size_t n = 300, parameter_set set = parameter_set::standard) {
  return std::make_shared<const suite>(make_suite("mixed", default_suite_seed, n, set).value());
}

// The steps of a completion's text (split after each blank line).
std::vector<std::string> split_steps(const std::string& text) {
  std::vector<std::string> steps;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\n\n", pos);
    end = end == std::string::npos ? text.size() : end + 2;
    steps.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return steps;
}

bool is_correct(const synthetic_problem& q, const completion& c) { return test::boxes_gold(q, c.text); }

} // namespace

TEST_CASE("the synthetic model satisfies every capability concept", "[testing][synthetic]") {
  STATIC_REQUIRE(sampling_model<synthetic_model>);
  STATIC_REQUIRE(stepping_model<synthetic_model>);
  STATIC_REQUIRE(logprob_model<synthetic_model>);
  STATIC_REQUIRE(process_reward_model<synthetic_model>);
  STATIC_REQUIRE(outcome_reward_model<synthetic_model>);
  STATIC_REQUIRE(reviser<synthetic_model>);
  STATIC_REQUIRE(introspective_model<synthetic_model>);
  STATIC_REQUIRE(model_traits<synthetic_model>::logprob_top_k == 20);
}

TEST_CASE("accuracy per sample is (1 - e(d))^L over the path lengths L, the trap passed with min(trap_solve, 1 - e)",
          "[testing][synthetic]") {
  synthetic_model m(mixed(100));
  double expected = 0.0, got = 0.0;
  const std::uint32_t n = 60;
  for (const auto& q : m.problems().problems) {
    expected += m.sample_accuracy(q);
    auto batch = m.sample(q.as_problem(), sampling_params{.max_tokens = 1u << 20, .seed = q.id}, n).value();
    REQUIRE(batch.completions.size() == n);
    for (const auto& c : batch.completions) got += is_correct(q, c) ? 1.0 : 0.0;
  }
  expected /= 100.0;
  got /= 100.0 * n;
  // 6000 samples: SE <= 0.0065; tolerance 0.025 (almost 4 SE).
  CHECK(got == Approx(expected).margin(0.025));

  // One hard problem without a trap, many samples: accuracy, distractor clustering, tokens per step.
  const synthetic_problem* hardest = nullptr;
  for (const auto& q : m.problems().problems)
    if (q.trap_step == 0 && (hardest == nullptr || q.difficulty > hardest->difficulty)) hardest = &q;
  REQUIRE(hardest != nullptr);
  const auto& hard = *hardest;
  auto batch = m.sample(hard.as_problem(), sampling_params{.max_tokens = 1u << 20, .seed = 7}, 4000).value();
  double correct = 0.0, top = 0.0, wrong = 0.0, tokens = 0.0, steps = 0.0;
  for (const auto& c : batch.completions) {
    if (is_correct(hard, c)) {
      correct += 1.0;
      tokens += c.tokens;
      steps += static_cast<double>(split_steps(c.text).size());
    }
    else {
      wrong += 1.0;
      if (c.text.find("\\boxed{" + hard.distractors[0] + "}") != std::string::npos) top += 1.0;
    }
  }
  // 4000 samples: SE <= 0.008; tolerance 0.03.
  CHECK(correct / 4000.0 == Approx(m.sample_accuracy(hard)).margin(0.03));
  // The top distractor's share among wrong answers is its weight; >= 1000 wrong samples, SE <= 0.016, tol 0.05.
  REQUIRE(wrong > 1000);
  CHECK(top / wrong == Approx(hard.distractor_weights[0]).margin(0.05));
  // Mean tokens per step of a correct path = step_tokens (uniform +-50%, rounded); relative tolerance 3%.
  REQUIRE(correct > 500);
  CHECK(tokens / steps == Approx(hard.step_tokens).epsilon(0.03));
  CHECK(batch.usage.prefilled_tokens == hard.prompt_tokens);
  CHECK(batch.usage.engine_calls == 1);
}

TEST_CASE("the PRM and ORM separate correct from incorrect with the stated AUC", "[testing][synthetic]") {
  // Without the difficulty decay and trap misjudgement (tested below), the AUC is Phi(d' / sqrt 2).
  for (const reward_params prm : {reward_params{1.5, 1.0, 0.0, 0.0, 0.7, 11, 0.0, 0.0}, poor_prm()}) {
    synthetic_params p;
    p.prm = prm;
    p.orm = prm;
    synthetic_model m(mixed(150), p);
    std::vector<double> pos, neg, opos, oneg;
    for (const auto& q : m.problems().problems) {
      auto batch = m.sample(q.as_problem(), sampling_params{.seed = q.id + 1}, 20).value();
      std::vector<std::string> texts;
      std::vector<solution_view> views;
      for (const auto& c : batch.completions) texts.push_back(c.text);
      for (const auto& t : texts) views.push_back(solution_view{std::span<const std::string>(&t, 1), true, 0});
      auto s = m.score_steps(q.as_problem(), views).value();
      auto o = m.score_outcomes(q.as_problem(), views).value();
      REQUIRE(s.size() == views.size());
      for (std::size_t i = 0; i < views.size(); ++i) {
        REQUIRE(s[i].size() == 1);
        REQUIRE(s[i][0] >= 0.0);
        REQUIRE(s[i][0] <= 1.0);
        (is_correct(q, batch.completions[i]) ? pos : neg).push_back(s[i][0]);
        (is_correct(q, batch.completions[i]) ? opos : oneg).push_back(o[i]);
      }
    }
    // >= 500 items per class; the AUC's SE is ~0.015; tolerance 0.05.
    REQUIRE(neg.size() > 500);
    CHECK(test::empirical_auc(pos, neg) == Approx(prm.auc()).margin(0.05));
    CHECK(test::empirical_auc(opos, oneg) == Approx(prm.auc()).margin(0.05));
  }
  CHECK(reward_params{}.auc() == Approx(0.760).margin(0.002));
  CHECK(poor_prm().auc() < 0.54);
}

TEST_CASE("the same prefix always gets the same PRM score", "[testing][synthetic]") {
  synthetic_model m(mixed(5));
  const auto& q = m.problems().problems[0];
  auto c = m.generate(q, 99);
  const std::vector<std::string> steps = split_steps(c.text);
  REQUIRE(steps.size() >= 2);
  solution_view whole{steps, true, 0};
  solution_view prefix{std::span<const std::string>(steps).first(1), false, 0};
  auto a = m.score_steps(q.as_problem(), std::span(&whole, 1)).value();
  auto b = m.score_steps(q.as_problem(), std::span(&prefix, 1)).value();
  REQUIRE(a[0].size() == steps.size());
  CHECK(a[0][0] == b[0][0]);
  const std::string junk = "no tag here";
  solution_view bad{std::span<const std::string>(&junk, 1), true, 0};
  CHECK(m.score_steps(q.as_problem(), std::span(&bad, 1)).error().code == errc::invalid_argument);
  CHECK(m.score_outcomes(q.as_problem(), std::span(&bad, 1)).error().code == errc::invalid_argument);
}

TEST_CASE("token statistics shift after an error by the stated effect", "[testing][synthetic]") {
  synthetic_params p;
  p.tokens.error_effect = 1.0;
  p.tokens.step_sd = 0.0; // the per-token law alone; the step shift is checked below
  synthetic_model m(mixed(60), p);
  // Expected mean entropy of the geometric distribution under logit(q) ~ N(mu, 1), by quadrature.
  auto expected_entropy = [](double mu) {
    double sum = 0.0, weight = 0.0;
    for (int i = -400; i <= 400; ++i) {
      const double z = i / 100.0, w = std::exp(-0.5 * z * z);
      const double q = 1.0 / (1.0 + std::exp(-(mu + z)));
      sum += w * (-(1 - q) * std::log1p(-q) - q * std::log(q)) / (1 - q);
      weight += w;
    }
    return sum / weight;
  };
  double h_ok = 0, h_bad = 0, n_ok = 0, n_bad = 0;
  step_params sp;
  sp.stats = logprob_params{true, true, 5};
  for (const auto& q : m.problems().problems) {
    auto s = m.begin(q.as_problem()).value();
    for (std::uint32_t k = 0; !m.is_done(s); ++k) {
      const std::uint64_t seed = q.id + k;
      auto st = m.extend(std::span(&s, 1), sp, std::span(&seed, 1)).value().steps[0];
      REQUIRE(st.stats.entropy.size() == st.tokens);
      REQUIRE(st.stats.logprob.size() == st.tokens);
      REQUIRE(st.stats.top_logprobs.size() == 5u * st.tokens);
      for (float h : st.stats.entropy) (m.is_wrong(s) ? h_bad : h_ok) += h;
      (m.is_wrong(s) ? n_bad : n_ok) += st.tokens;
    }
    m.release(s);
  }
  REQUIRE(n_bad > 2000);
  // Per-token entropies are independent given the state; thousands of tokens: tolerance 5% relative.
  CHECK(h_ok / n_ok == Approx(expected_entropy(-2.0)).epsilon(0.05));
  CHECK(h_bad / n_bad == Approx(expected_entropy(-1.0)).epsilon(0.05));
}

TEST_CASE("a per-step confidence shift widens logit(q) to N(mu, sqrt(1 + step_sd^2))", "[testing][synthetic]") {
  synthetic_params p;
  p.tokens.error_effect = 0.0;
  p.tokens.step_sd = 2.0;
  synthetic_model m(mixed(300), p);
  // Mean entropy under logit(q) ~ N(-2, sqrt(5)) by quadrature. ~1800 steps, each sharing one
  // shift: stated tolerance 8% relative (about 3 standard errors of the step-level average).
  double expected = 0.0, weight = 0.0;
  for (int i = -400; i <= 400; ++i) {
    const double z = i / 100.0, w = std::exp(-0.5 * z * z);
    const double q = 1.0 / (1.0 + std::exp(-(-2.0 + std::sqrt(5.0) * z)));
    expected += w * (-(1 - q) * std::log1p(-q) - q * std::log(q)) / (1 - q);
    weight += w;
  }
  expected /= weight;
  double h = 0, n = 0;
  sampling_params sp;
  sp.stats = logprob_params{false, true, 0};
  for (const auto& q : m.problems().problems) {
    sp.seed = q.id;
    const sample_batch batch = m.sample(q.as_problem(), sp, 1).value();
    for (float e : batch.completions[0].stats.entropy) h += e;
    n += static_cast<double>(batch.completions[0].stats.entropy.size());
  }
  CHECK(h / n == Approx(expected).epsilon(0.08));
}

TEST_CASE("full logits rows give the same statistics as the closed form", "[testing][synthetic]") {
  synthetic_params exact;
  exact.tokens.vocab = 4096;
  synthetic_model a(mixed(3)), b(mixed(3), exact);
  const auto& q = a.problems().problems[1];
  const logprob_params want{true, true, 3};
  auto ca = a.generate(q, 5, 1u << 20, want), cb = b.generate(q, 5, 1u << 20, want);
  REQUIRE(ca.stats.entropy.size() == cb.stats.entropy.size());
  for (std::size_t i = 0; i < ca.stats.entropy.size(); ++i) {
    CHECK(cb.stats.entropy[i] == Approx(ca.stats.entropy[i]).margin(1e-3));
    CHECK(cb.stats.varentropy[i] == Approx(ca.stats.varentropy[i]).margin(1e-2));
    CHECK(cb.stats.logprob[i] == Approx(ca.stats.logprob[i]).margin(1e-3));
  }
}

TEST_CASE("fork shares the prefix: prefill is charged once, KV counted once", "[testing][synthetic]") {
  synthetic_model m(mixed(3));
  const auto& q = m.problems().problems[2];
  const problem p = q.as_problem();
  auto root = m.begin(p).value();
  auto early = m.fork(root).value(); // forked before the prompt was processed
  CHECK(m.kv_tokens() == q.prompt_tokens);
  step_params sp;
  const std::uint64_t s0 = 1;
  auto first = m.extend(std::span(&root, 1), sp, std::span(&s0, 1)).value();
  CHECK(first.usage.prefilled_tokens == q.prompt_tokens);
  CHECK(first.usage.engine_calls == 1);
  const std::uint64_t after_first = q.prompt_tokens + first.steps[0].tokens;
  CHECK(m.kv_tokens() == after_first);
  std::vector<synthetic_model::sequence> seqs{root};
  for (int i = 0; i < 3; ++i) seqs.push_back(m.fork(root).value());
  CHECK(m.kv_tokens() == after_first);
  seqs.push_back(early);
  std::vector<std::uint64_t> seeds{11, 12, 13, 14, 15};
  auto next = m.extend(seqs, sp, seeds).value();
  CHECK(next.usage.prefilled_tokens == 0); // forks and the early fork's shared prompt: nothing again
  std::uint64_t added = 0;
  for (const auto& st : next.steps) added += st.tokens;
  CHECK(next.usage.generated_tokens == added);
  CHECK(m.kv_tokens() == after_first + added);
  CHECK(m.live_sequences() == 5);
  CHECK(m.peak_live_sequences() == 5);
  m.release(seqs[1]);
  CHECK(m.kv_tokens() == after_first + added - next.steps[1].tokens);
  for (auto s : seqs) m.release(s);
  m.release(seqs[0]); // releasing twice is harmless
  CHECK(m.live_sequences() == 0);
  CHECK(m.kv_tokens() == 0);
  CHECK(m.peak_kv_tokens() == after_first + added);
  CHECK(!m.is_live(root));
}

TEST_CASE("stepping reproduces sampling, independent of batch composition", "[testing][synthetic]") {
  synthetic_model m(mixed(4));
  const auto& q = m.problems().problems[3];
  const sampling_params sp{.max_tokens = 1u << 20, .seed = 42};
  auto batch = m.sample(q.as_problem(), sp, 3).value();
  // Sequence i extended with request_seed(42, i) at every step gives completion i.
  std::vector<synthetic_model::sequence> seqs;
  std::vector<std::uint64_t> seeds;
  for (std::uint32_t i = 0; i < 3; ++i) {
    seqs.push_back(m.begin(q.as_problem()).value());
    seeds.push_back(request_seed(42, i));
  }
  std::vector<std::string> texts(3);
  // Extend in shrinking, reordered batches: results must not depend on the batch.
  while (true) {
    std::vector<synthetic_model::sequence> live;
    std::vector<std::uint64_t> live_seeds;
    std::vector<std::size_t> which;
    for (std::size_t i = 3; i-- > 0;)
      if (!m.is_done(seqs[i])) {
        live.push_back(seqs[i]);
        live_seeds.push_back(seeds[i]);
        which.push_back(i);
      }
    if (live.empty()) break;
    auto out = m.extend(live, step_params{.max_step_tokens = 1000, .max_total_tokens = 1u << 20}, live_seeds).value();
    for (std::size_t j = 0; j < which.size(); ++j) texts[which[j]] += out.steps[j].text;
  }
  for (std::size_t i = 0; i < 3; ++i) CHECK(texts[i] == batch.completions[i].text);
  // Greedy: every sample is the same.
  auto greedy = m.sample(q.as_problem(), sampling_params{.temperature = 0.0f, .seed = 1}, 4).value();
  for (const auto& c : greedy.completions) CHECK(c.text == greedy.completions[0].text);
}

TEST_CASE("token caps end a completion or a sequence with finish length", "[testing][synthetic]") {
  synthetic_model m(mixed(3));
  const auto& q = m.problems().problems[0];
  auto c = m.sample(q.as_problem(), sampling_params{.max_tokens = 5}, 1).value().completions[0];
  CHECK(c.tokens == 5);
  CHECK(c.finish == finish_reason::length);
  CHECK(c.text.find("boxed") == std::string::npos);
  auto s = m.begin(q.as_problem()).value();
  const std::uint64_t seed = 3;
  auto st = m.extend(std::span(&s, 1), step_params{.max_step_tokens = 2, .max_total_tokens = 100}, std::span(&seed, 1))
                .value()
                .steps[0];
  CHECK(st.tokens == 2);
  CHECK(st.finish == finish_reason::length);
  CHECK(!st.done);
  auto end = m.extend(std::span(&s, 1), step_params{.max_step_tokens = 500, .max_total_tokens = 3}, std::span(&seed, 1))
                 .value()
                 .steps[0];
  CHECK(end.tokens == 1);
  CHECK(end.done);
  CHECK(m.extend(std::span(&s, 1), step_params{}, std::span(&seed, 1)).error().code == errc::invalid_argument);
}

TEST_CASE("the synthetic model reports misuse clearly", "[testing][synthetic]") {
  synthetic_params cap;
  cap.capacity = 2;
  synthetic_model m(mixed(3), cap);
  const problem stranger{12345, "?"};
  CHECK(m.sample(stranger, {}, 1).error().code == errc::invalid_argument);
  CHECK(m.begin(stranger).error().code == errc::invalid_argument);
  const problem p = m.problems().problems[0].as_problem();
  CHECK(m.sample(p, {}, 0).error().code == errc::invalid_argument);
  CHECK(m.sample(p, sampling_params{.max_tokens = 0}, 1).error().code == errc::invalid_argument);
  CHECK(m.sample(p, sampling_params{.stats = {false, false, 21}}, 1).error().code == errc::invalid_argument);
  auto a = m.begin(p).value();
  auto b = m.fork(a).value();
  CHECK(m.fork(a).error().code == errc::no_capacity);
  CHECK(m.begin(p).error().code == errc::no_capacity);
  const std::vector<synthetic_model::sequence> twice{a, a};
  const std::vector<std::uint64_t> seeds{1, 2};
  CHECK(m.extend(twice, {}, seeds).error().code == errc::invalid_argument);
  CHECK(m.extend(std::span(&a, 1), {}, seeds).error().code == errc::invalid_argument);
  m.release(b);
  CHECK(m.fork(b).error().code == errc::invalid_argument);
  CHECK(m.extend(std::span(&b, 1), {}, std::span(seeds).first(1)).error().code == errc::invalid_argument);
  synthetic_params bad;
  bad.step_error_max = 2.0;
  CHECK_THROWS_AS(synthetic_model(mixed(3), bad), reckon::exception);
  bad = {};
  bad.prm.noise = 0.0;
  CHECK_THROWS_AS(synthetic_model(mixed(3), bad), reckon::exception);
  CHECK_THROWS_AS(synthetic_model(suite{}), reckon::exception);
}

TEST_CASE("the introspective head is the exact joint, and miscalibration moves it", "[testing][synthetic]") {
  synthetic_params tilted;
  tilted.head.bias = 2.0;
  synthetic_model m(mixed(20)), t(mixed(20), tilted);
  const auto& q = m.problems().problems[5];
  auto s = m.begin(q.as_problem()).value();
  auto s2 = t.begin(q.as_problem()).value();
  auto head = m.introspect(std::span(&s, 1)).value();
  REQUIRE(head.joint.size() == 1);
  REQUIRE(head.reward_values.size() == 2);
  REQUIRE(head.remaining_lengths.size() == 8);
  const auto& j = head.joint[0];
  double total = 0.0, p1 = 0.0, mean_len = 0.0;
  for (std::size_t l = 0; l < 8; ++l) {
    total += j(0, l) + j(1, l);
    p1 += j(1, l);
    mean_len += (j(0, l) + j(1, l)) * head.remaining_lengths[l];
    CHECK(j(0, l) >= 0.0);
  }
  CHECK(total == Approx(1.0).epsilon(1e-9));
  CHECK(p1 == Approx(m.sample_accuracy(q)).epsilon(1e-9));
  // Binned mean within a bin width of the true remaining mean (when it fits under max_length).
  if (q.steps * q.step_tokens < 900) CHECK(mean_len == Approx(q.steps * q.step_tokens).margin(128.0));
  auto tilted_head = t.introspect(std::span(&s2, 1)).value();
  double tp1 = 0.0;
  for (std::size_t l = 0; l < 8; ++l) tp1 += tilted_head.joint[0](1, l);
  CHECK(tp1 > p1);
  m.release(s);
  CHECK(m.introspect(std::span(&s, 1)).error().code == errc::invalid_argument);
}

TEST_CASE("the reviser fixes and breaks with its stated probabilities", "[testing][synthetic]") {
  auto problems = mixed(30, parameter_set::lenient); // no trap: a perfect model makes no error
  synthetic_params clumsy;
  clumsy.step_error_min = clumsy.step_error_max = 0.5; // almost every sample is wrong
  synthetic_params perfect;
  perfect.step_error_min = perfect.step_error_max = 0.0;
  perfect.revise = reviser_params{1.0, 0.0};
  synthetic_params breaker = perfect;
  breaker.revise = reviser_params{0.0, 1.0};
  synthetic_params idle = perfect;
  idle.revise = reviser_params{0.0, 0.0};
  synthetic_model bad(problems, clumsy), fixer(problems, perfect), spoiler(problems, breaker), still(problems, idle);
  int wrong = 0, fixed = 0, broken = 0, unchanged = 0;
  for (const auto& q : bad.problems().problems) {
    const problem p = q.as_problem();
    auto c = bad.generate(q, 3);
    const std::vector<std::string> steps{c.text};
    const std::vector<double> feedback{0.5};
    std::vector<revision_request> req{revision_request{solution_view{steps, true, 0}, feedback, false, 9}};
    auto out = fixer.revise(p, req, {}).value();
    REQUIRE(out.completions.size() == 1);
    CHECK(out.usage.prefilled_tokens == q.prompt_tokens + c.tokens);
    if (!is_correct(q, c)) {
      ++wrong;
      fixed += is_correct(q, out.completions[0]);
      unchanged += still.revise(p, req, {}).value().completions[0].text == c.text;
    }
    auto good = fixer.generate(q, 4);
    const std::vector<std::string> good_steps{good.text};
    std::vector<revision_request> req2{revision_request{solution_view{good_steps, true, 0}, feedback, false, 10}};
    broken += !is_correct(q, spoiler.revise(p, req2, {}).value().completions[0]);
  }
  REQUIRE(wrong > 20);
  CHECK(fixed == wrong);     // fix = 1 and no further errors: every wrong solution is fixed
  CHECK(unchanged == wrong); // fix = 0, break = 0: nothing changes
  CHECK(broken == 30);       // break_correct = 1: every correct solution is broken
}

TEST_CASE("fast and slow agents differ as stated", "[testing][synthetic]") {
  // Lenient paths: errors add no length there, so token counts scale with token_scale alone.
  synthetic_params fast = lenient_params(), slow = lenient_params();
  fast.agent = fast_agent();
  slow.agent = slow_agent();
  synthetic_model f(mixed(50), fast), s(mixed(50), slow);
  const auto& q = f.problems().problems[7];
  CHECK(f.step_error(q) == Approx(1.6 / 0.5 * s.step_error(q)));
  CHECK(f.cost_per_token() == 0.25);
  double tf = 0, ts = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    tf += f.generate(q, seed).tokens;
    ts += s.generate(q, seed).tokens;
  }
  // Mean tokens scale with token_scale (0.6 vs 1.5); 200 samples, 5%.
  CHECK(tf / ts == Approx(0.6 / 1.5).epsilon(0.05));
  synthetic_params bad;
  bad.prm.step_correlation = 1.0;
  CHECK_THROWS_AS(synthetic_model(mixed(3), bad), reckon::exception);
  bad = {};
  bad.tokens.vocab = 10;
  CHECK_THROWS_AS(synthetic_model(mixed(3), bad), reckon::exception);
}

TEST_CASE("prompt_tokens is what the first extend prefills (the reserve a search takes under max_total_tokens)",
          "[testing][synthetic]") {
  synthetic_model m(mixed(3));
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& q = m.problems().problems[i];
    const problem p = q.as_problem();
    CHECK(m.prompt_tokens(p) == q.prompt_tokens);
    auto s = m.begin(p).value();
    const std::uint64_t seed = 1;
    const auto first = m.extend(std::span(&s, 1), step_params{}, std::span(&seed, 1)).value();
    CHECK(first.usage.prefilled_tokens == m.prompt_tokens(p));
    m.release(s);
  }
  CHECK(m.prompt_tokens(problem{.id = 987654321, .prompt = "not in the suite"}) == 0);
}
