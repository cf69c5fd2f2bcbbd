// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the full answer pipeline (every extractor, then canonicalize) on two fuzzed
// completions, and answers_equal on what comes out: reflexive, symmetric at every tolerance, and
// the same whether called on the texts or on their canonical forms; and a vote of the two keys
// pools them exactly when they are equal answers.
#include <reckon/aggregate/vote.hpp>
#include <reckon/answer/equal.hpp>
#include <reckon/answer/pipeline.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Tolerances a caller plausibly passes: exact, the default, a loose grader's, and a silly one.
constexpr std::array<double, 4> tolerances{0.0, 1e-9, 1e-6, 0.5};

void check_pair(const reckon::canonical_answer& a, const reckon::canonical_answer& b) {
  for (const double tol : tolerances) {
    if (!reckon::answers_equal(a, a, tol) || !reckon::answers_equal(b, b, tol)) std::abort();
    if (reckon::answers_equal(a, b, tol) != reckon::answers_equal(b, a, tol)) std::abort();
    // Equal keys are what voting counts as one answer: answers_equal must agree with it.
    if (a.key == b.key && !reckon::answers_equal(a, b, tol)) std::abort();
  }
}

template <class E>
void check_extractor(const E& extract, std::string_view a_text, std::string_view b_text) {
  const auto a = reckon::extract_and_canonicalize(a_text, extract);
  const auto b = reckon::extract_and_canonicalize(b_text, extract);
  if (a && a->key.empty()) std::abort(); // no empty string ever votes
  if (b && b->key.empty()) std::abort();
  const auto a_key = reckon::extract_answer_key(a_text, extract);
  if (a_key.has_value() != a.has_value() || (a && *a_key != a->key)) std::abort();
  if (!a || !b) return;
  check_pair(*a, *b);
  // The text overload canonicalises the raw extracted answers itself: the same verdict.
  const auto a_raw = extract(a_text);
  const auto b_raw = extract(b_text);
  if (!a_raw || !b_raw) std::abort(); // extract_and_canonicalize found an answer from these
  if (reckon::answers_equal(*a_raw, *b_raw) != reckon::answers_equal(*a, *b)) std::abort();
  // A vote of the two keys (answer_merge::equal) pools them exactly when their keys, read again,
  // are equal answers, in either order.
  const std::vector<std::string> ab{a->key, b->key}, ba{b->key, a->key};
  const auto t_ab = reckon::plurality_vote(ab), t_ba = reckon::plurality_vote(ba);
  const std::size_t want = a->key == b->key || reckon::answers_equal(a->key, b->key) ? 1 : 2;
  if (t_ab.answers.size() != want || t_ba.answers.size() != want) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A NUL byte (if any) splits the input into two completions; without one, the second is the
  // first's second half, so that a lone completion is still compared with something.
  const auto cut = text.find('\0');
  const auto a_text = cut == std::string_view::npos ? text : text.substr(0, cut);
  const auto b_text = cut == std::string_view::npos ? text.substr(size / 2) : text.substr(cut + 1);
  check_extractor(reckon::default_extractor{}, a_text, b_text);
  check_extractor(reckon::boxed_extractor{}, a_text, b_text);
  check_extractor(reckon::answer_is_extractor{}, a_text, b_text);
  check_extractor(reckon::gsm8k_extractor{}, a_text, b_text);
  check_extractor(reckon::last_number_extractor{}, a_text, b_text);
  return 0;
}
