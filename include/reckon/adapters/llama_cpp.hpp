// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp::engine: a sampling + stepping + logprob model over an in-process llama.cpp context.
#pragma once

// Opt-in: link reckon::llama_cpp (created only when llama.cpp is found: find_package(llama) or
// RECKON_LLAMA_CPP_DIR). reckon/reckon.hpp never includes this header.
//
// How it maps reckon's stepping model onto llama.cpp (the logic is in detail/llama_engine.hpp and
// is tested against a fake of the calls below):
// - the context is created with kv_unified = true, so llama_memory_seq_cp shares a prefix's KV
//   cells instead of copying them;
// - a sequence is a llama seq id from a free list of n_seq_max ids; begin tokenizes the prompt,
//   fork = llama_memory_seq_cp (after decoding the parent's pending prompt once), release =
//   llama_memory_seq_rm over the whole sequence, rollback = a partial llama_memory_seq_rm
//   (errc::unsupported where the memory cannot drop a tail);
// - extend decodes ONE llama_batch per round holding every unfinished sequence's pending tokens
//   (per-token seq ids, logits flagged only on each sequence's last token), until each sequence
//   hits its step delimiter, EOS (llama_vocab_is_eog) or a token cap;
// - tokens are sampled by reckon from the llama_get_logits_ith rows (temperature, top-p), each
//   sequence with its own reckon::random_stream keyed by its seed, so a sequence's draws never
//   depend on the batch around it (llama.cpp's sampler chains are not used: no grammars,
//   penalties or min-p); token statistics come from the same rows (exact entropy);
// - llama_decode 1 -> errc::no_capacity, 2 -> errc::aborted, < 0 -> errc::engine_failure; after
//   an error every sequence of the call is as it was before it.

#include <reckon/adapters/detail/llama_engine.hpp>

// llama.h and ggml's headers do not build under reckon's -Wshadow -Werror where they are not
// system headers (e.g. llama.cpp added with add_subdirectory).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include <llama.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace reckon::llama_cpp {

/// The llama_context an engine creates (every field has a default).
struct context_params {
  std::uint32_t n_ctx = 4096;     ///< KV cells shared by all sequences (unified KV cache); 0: the model's training context
  std::uint32_t n_batch = 512;    ///< most tokens in one llama_decode; longer batches are split (> 0)
  std::uint32_t n_seq_max = 16;   ///< sequence slots: the most live sequences (> 0, llama.cpp caps it at 256)
  std::int32_t n_threads = 0;     ///< threads for generation and batches (>= 0); 0: the hardware's cores (ggml's own default of 4 oversubscribes a 2-core machine)
  bool add_bos = true;            ///< tokenize prompts with the model's special tokens (BOS) added
};

/// Frees a llama_model.
struct model_deleter {
  void operator()(llama_model* m) const noexcept { llama_model_free(m); }
};
/// An owned llama_model.
using model_ptr = std::unique_ptr<llama_model, model_deleter>;

/// Loads a GGUF model file (calls llama_backend_init first).
/// @param path        the .gguf file
/// @param n_gpu_layers layers to offload to a GPU (0: CPU only)
/// @returns the model, or engine_failure when llama.cpp cannot load it
[[nodiscard]] inline result<model_ptr> load_model(const std::string& path, std::int32_t n_gpu_layers = 0) {
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = n_gpu_layers;
  llama_model* m = llama_model_load_from_file(path.c_str(), mp);
  if (m == nullptr) return fail(errc::engine_failure, "llama_cpp: cannot load model " + path);
  return model_ptr(m);
}

/// The backend over a real llama_context: the narrow set of llama.cpp calls the engine uses
/// (models llama_cpp::backend). Owns the context and a llama_batch; the model must outlive it.
class context_backend {
public:
  /// A context on `model` with kv_unified = true. Throws reckon::exception: invalid_argument for a
  /// null model or zero n_batch / n_seq_max, engine_failure when llama.cpp cannot create it.
  context_backend(const llama_model* model, const context_params& p) : model_(model), add_bos_(p.add_bos) {
    reckon::detail::require(model != nullptr, "llama_cpp: null model");
    reckon::detail::require(p.n_batch > 0 && p.n_seq_max > 0, "llama_cpp: n_batch and n_seq_max must be > 0");
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_batch = p.n_batch;
    cp.n_ubatch = p.n_batch < cp.n_ubatch ? p.n_batch : cp.n_ubatch;
    cp.n_seq_max = p.n_seq_max;
    cp.kv_unified = true;
    reckon::detail::require(p.n_threads >= 0, "llama_cpp: n_threads must be >= 0 (0: the hardware's cores)");
    const std::int32_t threads =
        p.n_threads > 0 ? p.n_threads : static_cast<std::int32_t>(std::max(1U, std::thread::hardware_concurrency()));
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    ctx_.reset(llama_init_from_model(const_cast<llama_model*>(model), cp));
    if (!ctx_) throw exception(errc::engine_failure, "llama_cpp: llama_init_from_model failed");
    vocab_ = llama_model_get_vocab(model);
    n_vocab_ = llama_vocab_n_tokens(vocab_);
    n_batch_ = llama_n_batch(ctx_.get());
    batch_ = std::unique_ptr<llama_batch, batch_deleter>(new llama_batch(llama_batch_init(static_cast<std::int32_t>(n_batch_), 0, 1)));
  }

  /// The llama_context (e.g. for llama_set_abort_callback or performance counters).
  [[nodiscard]] llama_context* context() const noexcept { return ctx_.get(); }
  /// The model.
  [[nodiscard]] const llama_model* model() const noexcept { return model_; }

  /// llama_n_seq_max of the context.
  [[nodiscard]] std::uint32_t n_seq_max() const { return llama_n_seq_max(ctx_.get()); }
  /// llama_n_batch of the context.
  [[nodiscard]] std::uint32_t n_batch() const { return n_batch_; }
  /// llama_n_ctx of the context.
  [[nodiscard]] std::uint32_t n_ctx() const { return llama_n_ctx(ctx_.get()); }

  /// llama_tokenize with special tokens added (when context_params::add_bos) and parsed; empty on failure.
  std::vector<std::int32_t> tokenize(std::string_view text, bool add_special) {
    const bool special = add_special && add_bos_;
    std::vector<llama_token> out(text.size() + 8);
    std::int32_t n = llama_tokenize(vocab_, text.data(), static_cast<std::int32_t>(text.size()), out.data(),
                                    static_cast<std::int32_t>(out.size()), special, true);
    if (n < 0) {
      out.resize(static_cast<std::size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), static_cast<std::int32_t>(text.size()), out.data(),
                         static_cast<std::int32_t>(out.size()), special, true);
    }
    if (n < 0) return {};
    out.resize(static_cast<std::size_t>(n));
    return out;
  }

  /// llama_token_to_piece (special tokens not rendered).
  std::string piece(std::int32_t token) {
    char buf[64];
    std::int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof buf, 0, false);
    if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
    std::string big(static_cast<std::size_t>(-n), '\0');
    n = llama_token_to_piece(vocab_, token, big.data(), static_cast<std::int32_t>(big.size()), 0, false);
    big.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return big;
  }

  /// llama_vocab_is_eog.
  [[nodiscard]] bool is_eog(std::int32_t token) const { return llama_vocab_is_eog(vocab_, token); }

  /// Fills the batch from `entries` (at most n_batch) and calls llama_decode; its return code.
  std::int32_t decode(std::span<const batch_entry> entries) {
    if (entries.size() > n_batch_) return -1;
    llama_batch& b = *batch_;
    b.n_tokens = static_cast<std::int32_t>(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      b.token[i] = entries[i].token;
      b.pos[i] = entries[i].pos;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = entries[i].seq;
      b.logits[i] = entries[i].logits ? 1 : 0;
    }
    return llama_decode(ctx_.get(), b);
  }

  /// llama_get_logits_ith(ctx, i) as a row of n_vocab values (empty when llama.cpp has none).
  std::span<const float> logits(std::int32_t i) {
    const float* row = llama_get_logits_ith(ctx_.get(), i);
    if (row == nullptr) return {};
    return {row, static_cast<std::size_t>(n_vocab_)};
  }

  /// llama_memory_seq_cp(mem, src, dst, -1, -1): dst shares src's whole KV.
  void seq_cp(std::int32_t src, std::int32_t dst) { llama_memory_seq_cp(llama_get_memory(ctx_.get()), src, dst, -1, -1); }
  /// llama_memory_seq_rm(mem, seq, p0, p1); false when a partial removal is unsupported.
  bool seq_rm(std::int32_t seq, std::int32_t p0, std::int32_t p1) {
    return llama_memory_seq_rm(llama_get_memory(ctx_.get()), seq, p0, p1);
  }

private:
  struct context_deleter {
    void operator()(llama_context* c) const noexcept { llama_free(c); }
  };
  struct batch_deleter {
    void operator()(llama_batch* b) const noexcept {
      llama_batch_free(*b);
      delete b;
    }
  };

  const llama_model* model_ = nullptr;
  bool add_bos_ = true;
  std::unique_ptr<llama_context, context_deleter> ctx_;
  const llama_vocab* vocab_ = nullptr;
  std::int32_t n_vocab_ = 0;
  std::uint32_t n_batch_ = 0;
  std::unique_ptr<llama_batch, batch_deleter> batch_;
};

/// The llama.cpp model adapter: sampling_model, stepping_model (with rollback) and logprob_model.
/// ```
/// auto model = reckon::llama_cpp::load_model("model.gguf").value();
/// reckon::llama_cpp::engine engine(reckon::llama_cpp::context_backend(model.get(), {.n_seq_max = 8}));
/// auto seq = engine.begin({.id = 1, .prompt = "Q: 2+2?\nA:"}).value();
/// ```
using engine = basic_engine<context_backend>;

} // namespace reckon::llama_cpp
