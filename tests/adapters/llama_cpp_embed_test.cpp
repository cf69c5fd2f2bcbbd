// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::embedder over a real llama.cpp model (RECKON_TEST_GGUF), and against llama-server's /v1/embeddings.

// Built only where reckon::llama_cpp exists (RECKON_TEST_LLAMA_CPP, as llama_cpp_test.cpp). The
// model is the GGUF file named by RECKON_TEST_GGUF (e.g. ../shared/models/tiny-llama-random.gguf,
// a random-weight causal LM: mean pooling works on it, the vectors are deterministic but
// meaningless); without it the cases only warn. The last case also needs reckon::openai and a
// llama-server started with --embeddings on the same model, named by RECKON_TEST_LLAMA_EMBED_SERVER_URL
// (a server with --embeddings serves embeddings only, so it is not RECKON_TEST_LLAMA_SERVER_URL's):
//   llama-server -m tiny-llama-random.gguf --host 127.0.0.1 --port 8089 --embeddings --pooling mean -np 2 --kv-unified
// --kv-unified matters: with -np 2 and the per-slot KV that an explicit -np selects, this build of
// llama-server pools wrongly when it batches two slots' inputs together (measured: this case fails
// without it, lowest cosine 0.7497; some texts, varying from run to run, are off; with it the lowest
// cosine is 1 - 2e-15).
#if defined(RECKON_TEST_LLAMA_CPP)

#include <reckon/adapters/llama_cpp_embed.hpp>
#include <reckon/concepts/embedding_model.hpp>
#if defined(RECKON_TEST_OPENAI)
#include <reckon/adapters/openai_embed.hpp>
#endif

#include "llama_test_model.hpp"
#include <support/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

namespace {

namespace lc = reckon::llama_cpp;
using reckon::errc;

static_assert(reckon::embedding_model<lc::embedder>);

lc::embedder make_embedder(lc::embed_params p = {}) {
  if (p.n_threads == 0) p.n_threads = 1;
  return lc::embedder(reckon::test::llama_test_model()->get(), p);
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  float d = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

const std::vector<std::string> steps{
    "Step 1: 6 times 7 is 42.",
    "Step 1: multiply six by seven, which gives forty-two, the answer to the question asked.",
    "x",
    "Step 2: so the answer is 42.",
    "The answer is 41.",
};

// Batched and single-sequence decodes run llama.cpp's matrix kernels on different shapes, whose
// float sums may round differently; a row must agree within this (absolute, on vectors whose
// entries are of order 1).
constexpr float composition_tolerance = 1e-5f;

} // namespace

#define RECKON_NEED_GGUF()                                  \
  if (reckon::test::llama_test_model() == nullptr) {                      \
    WARN("RECKON_TEST_GGUF not set or not loadable: skipped"); \
    return;                                                 \
  }

TEST_CASE("llama_cpp::embedder (real): one vector per text, of the model's n_embd, deterministic, tokens counted",
          "[adapters][llama_cpp_real][embed]") {
  RECKON_NEED_GGUF();
  auto e = make_embedder();
  const auto n_embd = static_cast<std::size_t>(llama_model_n_embd(reckon::test::llama_test_model()->get()));
  CHECK(e.dimension() == n_embd);
  auto a = e.embed(steps);
  REQUIRE(a);
  REQUIRE(a->size() == steps.size());
  CHECK(a->dimension == n_embd);
  std::uint64_t tokens = 0;
  for (const auto& s : steps) tokens += e.tokenize(s).size();
  CHECK(a->usage.prefilled_tokens == tokens);
  CHECK(a->usage.engine_calls == 1); // 5 texts, well under n_batch and n_seq_max: one decode
  CHECK(a->usage.generated_tokens == 0);
  CHECK(e.counters().decoded_tokens == tokens);
  for (const float v : a->values) CHECK(std::isfinite(v));
  // Different texts give different vectors (the test would pass vacuously on a constant).
  CHECK(max_abs_diff(a->row(0), a->row(4)) > 1e-3f);
  // The same call again: the same bits (the KV memory was cleared, nothing carried over).
  auto b = e.embed(steps);
  REQUIRE(b);
  CHECK(b->values == a->values);
  CHECK(e.counters().texts == 2 * steps.size());
}

TEST_CASE("llama_cpp::embedder (real): a text's row does not depend on the batch around it",
          "[adapters][llama_cpp_real][embed]") {
  RECKON_NEED_GGUF();
  auto together = make_embedder();
  auto all = together.embed(steps);
  REQUIRE(all);
  REQUIRE(all->usage.engine_calls == 1);
  // One text per decode.
  auto single = make_embedder({.n_seq_max = 1});
  // Small batches: n_batch 40 packs the texts into several decodes of different compositions.
  auto packed = make_embedder({.n_batch = 40, .n_seq_max = 8});
  auto in_packs = packed.embed(steps);
  REQUIRE(in_packs);
  CHECK(in_packs->usage.engine_calls > 1);
  CHECK(in_packs->usage.engine_calls < steps.size());
  // The texts in reverse order.
  std::vector<std::string> reversed(steps.rbegin(), steps.rend());
  auto backwards = together.embed(reversed);
  REQUIRE(backwards);
  float worst = 0.0f;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::vector<std::string> one{steps[i]};
    auto alone = single.embed(one);
    REQUIRE(alone);
    worst = std::max({worst, max_abs_diff(alone->row(0), all->row(i)), max_abs_diff(in_packs->row(i), all->row(i)),
                      max_abs_diff(backwards->row(steps.size() - 1 - i), all->row(i))});
  }
  INFO("largest difference between compositions: " << worst);
  CHECK(worst <= composition_tolerance);
}

TEST_CASE("llama_cpp::embedder (real): mean pooling is the mean of the text's token embeddings",
          "[adapters][llama_cpp_real][embed]") {
  RECKON_NEED_GGUF();
  const llama_model* model = reckon::test::llama_test_model()->get();
  // The long step is decoded alongside others, so a pooling over part of it would show.
  auto e = make_embedder({.n_batch = 64});
  auto pooled = e.embed(steps);
  REQUIRE(pooled);
  // Per-token embeddings of step 1 alone (pooling none), averaged here.
  const auto tokens = e.tokenize(steps[1]);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = cp.n_ubatch = 256;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = 1;
  cp.embeddings = true;
  cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
  llama_context* ctx = llama_init_from_model(const_cast<llama_model*>(model), cp);
  REQUIRE(ctx != nullptr);
  llama_batch b = llama_batch_init(256, 0, 1);
  for (std::size_t j = 0; j < tokens.size(); ++j) {
    b.token[j] = tokens[j];
    b.pos[j] = static_cast<llama_pos>(j);
    b.n_seq_id[j] = 1;
    b.seq_id[j][0] = 0;
    b.logits[j] = 1;
  }
  b.n_tokens = static_cast<std::int32_t>(tokens.size());
  REQUIRE(llama_decode(ctx, b) == 0);
  std::vector<float> mean(e.dimension(), 0.0f);
  for (std::size_t j = 0; j < tokens.size(); ++j) {
    const float* row = llama_get_embeddings_ith(ctx, static_cast<std::int32_t>(j));
    REQUIRE(row != nullptr);
    for (std::size_t d = 0; d < mean.size(); ++d) mean[d] += row[d] / static_cast<float>(tokens.size());
  }
  llama_batch_free(b);
  llama_free(ctx);
  INFO("tokens: " << tokens.size());
  CHECK(tokens.size() > 16);
  CHECK(max_abs_diff(mean, pooled->row(1)) <= composition_tolerance);
  // Last-token pooling is a different vector: the choice reaches llama.cpp.
  auto last = make_embedder({.n_batch = 64, .pooling = LLAMA_POOLING_TYPE_LAST});
  auto l = last.embed(steps);
  REQUIRE(l);
  CHECK(max_abs_diff(l->row(1), pooled->row(1)) > 1e-3f);
}

TEST_CASE("llama_cpp::embedder (real): empty and over-long texts, bad parameters", "[adapters][llama_cpp_real][embed]") {
  RECKON_NEED_GGUF();
  const std::vector<std::string> with_empty{"a step", ""};
  SECTION("an empty text is embedded as its BOS alone, as llama-server does") {
    auto e = make_embedder();
    CHECK(e.tokenize("").size() == 1);
    auto r = e.embed(with_empty);
    REQUIRE(r);
    REQUIRE(r->size() == 2);
    CHECK(r->usage.prefilled_tokens == e.tokenize("a step").size() + 1);
    for (const float v : r->row(1)) CHECK(std::isfinite(v));
  }
  SECTION("without BOS an empty text has no tokens: invalid_argument, nothing decoded") {
    auto e = make_embedder({.add_bos = false});
    auto r = e.embed(with_empty);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find("text 1 has no tokens") != std::string::npos);
    CHECK(e.counters().decode_calls == 0);
  }
  SECTION("a text longer than n_batch is refused before any decode") {
    auto e = make_embedder({.n_batch = 8, .n_seq_max = 8});
    const std::vector<std::string> texts{"x", steps[1]};
    auto r = e.embed(texts);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().message.find("more than n_batch = 8") != std::string::npos);
    CHECK(e.counters().decode_calls == 0);
  }
  SECTION("no texts: an empty batch, no decode") {
    auto e = make_embedder();
    auto r = e.embed({});
    REQUIRE(r);
    CHECK(r->size() == 0);
    CHECK(e.counters().decode_calls == 0);
  }
  SECTION("bad parameters throw invalid_argument") {
    auto bad = [](const llama_model* m, lc::embed_params p) {
      try {
        lc::embedder e(m, p);
      } catch (const reckon::exception& ex) {
        return ex.code() == errc::invalid_argument;
      }
      return false;
    };
    const llama_model* m = reckon::test::llama_test_model()->get();
    CHECK(bad(nullptr, {}));
    CHECK(bad(m, {.n_batch = 0}));
    CHECK(bad(m, {.n_seq_max = 0}));
    CHECK(bad(m, {.n_seq_max = 257}));
    CHECK(bad(m, {.n_batch = 40, .n_seq_max = 16})); // llama.cpp would abort the process
    CHECK(bad(m, {.n_batch = 8, .n_seq_max = 16}));
    CHECK(bad(m, {.n_threads = -1}));
    CHECK(bad(m, {.pooling = LLAMA_POOLING_TYPE_NONE}));
    CHECK(bad(m, {.pooling = LLAMA_POOLING_TYPE_RANK}));
    CHECK_FALSE(bad(m, {.n_threads = 1, .pooling = LLAMA_POOLING_TYPE_CLS}));
  }
}

#if defined(RECKON_TEST_OPENAI)
namespace {
double cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

} // namespace

TEST_CASE("openai::embedder against a real llama-server --embeddings agrees with the in-process embedder",
          "[adapters][llama_cpp_real][embed][llama_server]") {
  const char* url = std::getenv("RECKON_TEST_LLAMA_EMBED_SERVER_URL");
  if (url == nullptr) {
    WARN("RECKON_TEST_LLAMA_EMBED_SERVER_URL not set: skipped");
    return;
  }
  RECKON_NEED_GGUF();
  reckon::openai::client_params cp;
  cp.url = url;
  cp.model = "tiny-llama-random";
  cp.max_in_flight = 2;
  reckon::openai::embedder remote(cp, {.max_inputs_per_request = 2});
  auto served = remote.embed(steps);
  REQUIRE(served);
  auto local = make_embedder();
  auto mine = local.embed(steps);
  REQUIRE(mine);
  REQUIRE(served->size() == steps.size());
  CHECK(served->dimension == mine->dimension);
  // llama-server's usage.prompt_tokens counts the same tokens (BOS included) as the local decode.
  CHECK(served->usage.prefilled_tokens == mine->usage.prefilled_tokens);
  CHECK(served->usage.engine_calls == 3);
  double worst = 1.0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    worst = std::min(worst, cosine(served->row(i), mine->row(i)));
    double norm = 0;
    for (const float v : served->row(i)) norm += static_cast<double>(v) * v;
    CHECK(std::sqrt(norm) == Approx(1.0).margin(1e-4)); // the server normalises (--embd-normalize 2)
  }
  INFO("rows " << served->size() << ", dimension " << served->dimension << ", 1 - lowest cosine " << 1.0 - worst);
  CHECK(worst > 0.999);
  WARN("llama-server /v1/embeddings: rows " << served->size() << ", dimension " << served->dimension
                                            << ", prompt_tokens " << served->usage.prefilled_tokens
                                            << ", 1 - lowest cosine to the in-process embedder " << 1.0 - worst);
}
#endif // RECKON_TEST_OPENAI

#endif // RECKON_TEST_LLAMA_CPP
