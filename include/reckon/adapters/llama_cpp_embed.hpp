// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::embedder: an embedding_model over an in-process llama.cpp context (pooled embeddings).
#pragma once

// Opt-in: link reckon::llama_cpp. reckon/reckon.hpp never includes this header.
//
// How it maps embed(texts) onto llama.cpp:
// - its own llama_context, separate from any engine's, with embeddings = true, the pooling type of
//   embed_params (mean by default; cls and last also), kv_unified = true and n_ubatch = n_batch;
// - each text is tokenized (BOS added, as llama-server does for /v1/embeddings) and decoded as its
//   own sequence, every token flagged for output (llama.cpp's pooled embeddings need it); texts
//   are packed in order into one llama_batch while the tokens fit n_batch and the sequences
//   n_seq_max; a text's vector is llama_get_embeddings_seq after that decode, and the KV memory is
//   cleared before the next batch, so a text never sees another's tokens;
// - n_ubatch = n_batch because llama.cpp pools per micro-batch: a sequence split over two would be
//   pooled over its last part only. A text of more than n_batch tokens is therefore refused
//   (invalid_argument; llama-server refuses it too, with an HTTP 500 naming its batch size).
// - vectors are the model's pooled hidden states, not normalised (llama-server's /v1/embeddings
//   normalises to unit length; directions, which ETS's cosine distance reads, are the same).
//
// On a causal LM (e.g. the random-weight test model) mean pooling averages causal hidden states: it
// works and is deterministic, but a dedicated embedding model (an encoder, or a causal model
// trained for embeddings with its own pooling) is what gives meaningful clusters.

#include <reckon/adapters/llama_cpp.hpp>
#include <reckon/concepts/embedding_model.hpp>
#include <reckon/concepts/tags.hpp>
#include <reckon/core/result.hpp>
#include <reckon/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace reckon::llama_cpp {

/// The context an embedder creates and how it pools (every field has a default).
struct embed_params {
  std::uint32_t n_batch = 512;   ///< most tokens in one llama_decode (> 0); also the longest text, in tokens
  std::uint32_t n_seq_max = 16;  ///< most texts in one llama_decode (1 .. 256, and a divisor of n_batch)
  std::int32_t n_threads = 0;    ///< threads for the decode (>= 0); 0: the hardware's cores
  bool add_bos = true;           ///< tokenize texts with the model's special tokens (BOS) added
  enum llama_pooling_type pooling = LLAMA_POOLING_TYPE_MEAN; ///< mean, cls or last (none and rank give no text vector); `enum`: llama.h also names a function llama_pooling_type
};

/// What an embedder has done over its lifetime.
struct embed_counters {
  std::uint64_t decode_calls = 0;   ///< llama_decode calls
  std::uint64_t decoded_tokens = 0; ///< tokens decoded
  std::uint64_t texts = 0;          ///< texts embedded by calls that succeeded
  std::uint64_t failed_decodes = 0; ///< llama_decode calls that returned non-zero
};

/// An embedding_model over a llama.cpp model, in process (see the header's notes).
///
/// Usage: `prefilled_tokens` counts the tokens decoded (BOS included), `engine_calls` the
/// llama_decode calls, `generated_tokens` is 0. An empty text is embedded as its special tokens
/// alone (BOS, as llama-server does); a text with no token at all (empty, add_bos off) is
/// invalid_argument. Errors: invalid_argument before any decode; llama_decode's codes as the
/// engine maps them (1 no_capacity, 2 aborted, < 0 engine_failure); engine_failure when llama.cpp
/// gives no vector or a non-finite value. A call is all or nothing.
///
/// Thread safety: one thread at a time (like the llama_context under it). Movable, not copyable.
/// ```
/// auto model = reckon::llama_cpp::load_model("embedder.gguf").value();
/// reckon::llama_cpp::embedder e(model.get(), {.pooling = LLAMA_POOLING_TYPE_MEAN});
/// auto vectors = e.embed(texts); // vectors->row(i): text i's pooled embedding
/// ```
class embedder {
public:
  using reckon_model_concept = embedding_model_tag;

  /// An embedding context on `model` (which must outlive the embedder). Throws reckon::exception:
  /// invalid_argument for a null model, n_batch 0, n_seq_max outside 1 .. 256 or not dividing
  /// n_batch, negative n_threads
  /// or a pooling other than mean, cls or last; engine_failure when llama.cpp cannot create it.
  embedder(const llama_model* model, const embed_params& p) : params_(p) {
    reckon::detail::require(model != nullptr, "llama_cpp::embedder: null model");
    reckon::detail::require(p.n_batch > 0, "llama_cpp::embed_params.n_batch must be > 0");
    reckon::detail::require(p.n_seq_max >= 1 && p.n_seq_max <= 256, "llama_cpp::embed_params.n_seq_max must be in [1, 256]");
    // llama.cpp reserves its pooling graph for n_seq_max equal sequences of one micro-batch and
    // aborts the process (GGML_ASSERT in ggml_mul_mat) when they do not divide it (measured:
    // n_batch 40 or 100 with n_seq_max 16 or 3 abort; 40/8, 100/4, 512/256 do not).
    reckon::detail::require(p.n_batch % p.n_seq_max == 0,
                            "llama_cpp::embed_params.n_seq_max must divide n_batch (llama.cpp aborts otherwise)");
    reckon::detail::require(p.n_threads >= 0, "llama_cpp::embed_params.n_threads must be >= 0 (0: the hardware's cores)");
    reckon::detail::require(p.pooling == LLAMA_POOLING_TYPE_MEAN || p.pooling == LLAMA_POOLING_TYPE_CLS ||
                                p.pooling == LLAMA_POOLING_TYPE_LAST,
                            "llama_cpp::embed_params.pooling must be mean, cls or last");
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = p.n_batch; // one batch at a time, cleared after it
    cp.n_batch = p.n_batch;
    cp.n_ubatch = p.n_batch;
    cp.n_seq_max = p.n_seq_max;
    cp.kv_unified = true;
    cp.embeddings = true;
    cp.pooling_type = p.pooling;
    const std::int32_t threads =
        p.n_threads > 0 ? p.n_threads : static_cast<std::int32_t>(std::max(1U, std::thread::hardware_concurrency()));
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    ctx_.reset(llama_init_from_model(const_cast<llama_model*>(model), cp));
    if (!ctx_) throw exception(errc::engine_failure, "llama_cpp::embedder: llama_init_from_model failed");
    vocab_ = llama_model_get_vocab(model);
    dimension_ = static_cast<std::size_t>(llama_model_n_embd_out(model));
    reckon::detail::require(dimension_ > 0, "llama_cpp::embedder: the model has no embedding dimension");
    batch_ = std::unique_ptr<llama_batch, batch_deleter>(new llama_batch(llama_batch_init(static_cast<std::int32_t>(p.n_batch), 0, 1)));
  }
  explicit embedder(const llama_model* model) : embedder(model, embed_params{}) {}

  /// One pooled vector per text, in order (see the class notes). No text: an empty batch.
  result<embedding_batch> embed(std::span<const std::string> texts) {
    embedding_batch out;
    if (texts.empty()) return out;
    std::vector<std::vector<llama_token>> tokens(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      tokens[i] = tokenize(texts[i]);
      if (tokens[i].empty())
        return fail(errc::invalid_argument, "llama_cpp::embedder: text " + std::to_string(i) + " has no tokens");
      if (tokens[i].size() > params_.n_batch)
        return fail(errc::invalid_argument, "llama_cpp::embedder: text " + std::to_string(i) + " has " +
                                                std::to_string(tokens[i].size()) + " tokens, more than n_batch = " +
                                                std::to_string(params_.n_batch));
    }
    out.dimension = dimension_;
    out.values.resize(texts.size() * dimension_);
    for (std::size_t first = 0; first < texts.size();) {
      std::size_t last = first;
      std::size_t n = 0;
      while (last < texts.size() && last - first < params_.n_seq_max && n + tokens[last].size() <= params_.n_batch)
        n += tokens[last++].size();
      if (auto ok = decode_group(std::span(tokens).subspan(first, last - first), out.values.data() + first * dimension_); !ok)
        return ok.error();
      out.usage.engine_calls += 1;
      out.usage.prefilled_tokens += n;
      first = last;
    }
    counters_.texts += texts.size();
    return out;
  }

  /// The length of every vector (llama_model_n_embd_out).
  [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }
  /// The tokens `text` is decoded as (BOS added when embed_params::add_bos); empty when it has none.
  [[nodiscard]] std::vector<llama_token> tokenize(std::string_view text) const {
    std::vector<llama_token> t(text.size() + 8);
    std::int32_t n = llama_tokenize(vocab_, text.data(), static_cast<std::int32_t>(text.size()), t.data(),
                                    static_cast<std::int32_t>(t.size()), params_.add_bos, true);
    if (n < 0) {
      t.resize(static_cast<std::size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), static_cast<std::int32_t>(text.size()), t.data(),
                         static_cast<std::int32_t>(t.size()), params_.add_bos, true);
    }
    t.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return t;
  }
  /// Lifetime counters.
  [[nodiscard]] const embed_counters& counters() const noexcept { return counters_; }
  /// The llama_context (e.g. for llama_set_abort_callback).
  [[nodiscard]] llama_context* context() const noexcept { return ctx_.get(); }
  [[nodiscard]] const embed_params& params() const noexcept { return params_; }

private:
  // Decodes texts as sequences 0 .. k-1 of one batch and copies their pooled vectors to `dst`.
  result<void> decode_group(std::span<const std::vector<llama_token>> group, float* dst) {
    llama_batch& b = *batch_;
    b.n_tokens = 0;
    for (std::size_t s = 0; s < group.size(); ++s)
      for (std::size_t j = 0; j < group[s].size(); ++j) {
        const auto at = static_cast<std::size_t>(b.n_tokens++);
        b.token[at] = group[s][j];
        b.pos[at] = static_cast<llama_pos>(j);
        b.n_seq_id[at] = 1;
        b.seq_id[at][0] = static_cast<llama_seq_id>(s);
        b.logits[at] = 1;
      }
    const std::int32_t code = llama_decode(ctx_.get(), b);
    counters_.decode_calls += 1;
    counters_.decoded_tokens += static_cast<std::uint64_t>(b.n_tokens);
    result<void> done;
    if (code != 0) {
      counters_.failed_decodes += 1;
      done = decode_error(code);
    } else {
      for (std::size_t s = 0; s < group.size() && done; ++s) {
        const float* v = llama_get_embeddings_seq(ctx_.get(), static_cast<llama_seq_id>(s));
        if (v == nullptr) {
          done = fail(errc::engine_failure, "llama_cpp::embedder: llama.cpp gave no pooled embedding for a sequence");
          break;
        }
        for (std::size_t d = 0; d < dimension_; ++d) {
          if (!std::isfinite(v[d])) {
            done = fail(errc::engine_failure, "llama_cpp::embedder: a pooled embedding holds a non-finite value");
            break;
          }
          dst[s * dimension_ + d] = v[d];
        }
      }
    }
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    return done;
  }

  struct context_deleter {
    void operator()(llama_context* c) const noexcept { llama_free(c); }
  };
  struct batch_deleter {
    void operator()(llama_batch* b) const noexcept {
      llama_batch_free(*b);
      delete b;
    }
  };

  embed_params params_;
  std::unique_ptr<llama_context, context_deleter> ctx_;
  const llama_vocab* vocab_ = nullptr;
  std::size_t dimension_ = 0;
  std::unique_ptr<llama_batch, batch_deleter> batch_;
  embed_counters counters_;
};

} // namespace reckon::llama_cpp
